"""Apps built from `create_app` for the test client, and the scripted engine for error paths."""
from __future__ import annotations

import threading

from deepseek_ocr_api import create_app
from deepseek_ocr_api.engines.base import Engine, OcrOutput


def make_app(tmp_path, engine, **config):
    """The app with `engine` handed in (already loaded, or loading), results under `tmp_path`, `config` on top."""
    app = create_app({"TESTING": True, "RESULTS_DIR": str(tmp_path / "results"), "ENGINE_INSTANCE": engine, **config})
    assert app.extensions["ocr"].wait_until_settled(60)
    return app


class ScriptedEngine(Engine):
    """Stands in for a model only where a real one cannot be made to fail on demand (error paths)."""

    name = "scripted"
    supported_tasks = ("free_ocr", "markdown")
    resolution_modes = {"native": "as uploaded"}
    default_mode = "native"

    def __init__(self, load_gate: threading.Event | None = None, load_error: Exception | None = None,
                 infer_errors: list[Exception] | None = None, infer_gate: threading.Event | None = None):
        self.load_gate, self.load_error, self.infer_gate = load_gate, load_error, infer_gate
        self.infer_errors = list(infer_errors or [])
        self.loaded = False

    def load(self):
        if self.load_gate is not None:
            self.load_gate.wait(30)
        if self.load_error is not None:
            raise self.load_error
        self.loaded = True

    def infer(self, image, task, mode, generation=None):
        if self.infer_gate is not None:
            self.infer_gate.wait(30)
        if self.infer_errors:
            raise self.infer_errors.pop(0)
        return OcrOutput(f"{image.width}x{image.height}", mode)

    def unload(self):
        self.loaded = False

    def describe(self):
        return {"engine": self.name, "model": "scripted", "revision": None, "device": "cpu", "dtype": "float32",
                "quantization": "none", "attention": None, "mode": "test", "default_mode": self.default_mode,
                "resolution_modes": dict(self.resolution_modes), "supported_tasks": list(self.supported_tasks)}
