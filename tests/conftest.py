"""Fixtures: the app with the real embedded engine, a test client, a real gunicorn server, rendered pages."""
from __future__ import annotations

import io
import os
import resource
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from deepseek_ocr_api import create_app
from deepseek_ocr_api.engines.base import Engine, OcrOutput
from deepseek_ocr_api.engines.embedded import EmbeddedEngine

ROOT = Path(__file__).resolve().parents[1]
# No test may reach the Hugging Face hub: every checkpoint is built on disk by the tests themselves.
os.environ["HF_HUB_OFFLINE"] = "1"


@pytest.fixture(scope="session")
def embedded_engine():
    """The default engine, loaded once for the whole session (it is read-only once loaded)."""
    engine = EmbeddedEngine()
    engine.load()
    return engine


def make_app(tmp_path, engine, **config):
    app = create_app({"TESTING": True, "RESULTS_DIR": str(tmp_path / "results"), "ENGINE_INSTANCE": engine, **config})
    assert app.extensions["ocr"].wait_until_settled(60)
    return app


@pytest.fixture
def app(tmp_path, embedded_engine):
    return make_app(tmp_path, embedded_engine)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def png_bytes(image, format="PNG", **save_options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format, **save_options)
    return buffer.getvalue()


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

    def infer(self, image, task, mode):
        if self.infer_gate is not None:
            self.infer_gate.wait(30)
        if self.infer_errors:
            raise self.infer_errors.pop(0)
        return OcrOutput(f"{image.width}x{image.height}", "text", mode)

    def unload(self):
        self.loaded = False

    @property
    def ready(self):
        return self.loaded

    def describe(self):
        return {"engine": self.name, "model": "scripted", "revision": None, "device": "cpu", "dtype": "float32",
                "quantization": "none", "attention": None, "mode": "test", "default_mode": self.default_mode,
                "resolution_modes": dict(self.resolution_modes), "supported_tasks": list(self.supported_tasks)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def address_space_cap(megabytes: int):
    """For Popen's preexec_fn: cap the child's address space, so a regression fails a test instead of the machine."""
    def cap():
        limit = megabytes * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return cap


def worker_pid(master: int) -> int:
    """The pid of gunicorn's one worker process."""
    with open(f"/proc/{master}/task/{master}/children") as handle:
        children = handle.read().split()
    assert len(children) == 1, children
    return int(children[0])


def memory_mb(pid: int, field: str = "VmHWM") -> float:
    """A process's peak (VmHWM) or current (VmRSS) resident memory in MB."""
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} for {pid}")


def start_gunicorn(tmp_path_factory, name: str, memory_cap_mb: int | None = None, **environment):
    """A real gunicorn serving the app as `make run` starts it, with `OCR_*` settings; yields once the model is loaded.
    `memory_cap_mb` caps the address space of gunicorn and its worker."""
    port = free_port()
    results = tmp_path_factory.mktemp(f"{name}-results")
    env = {**os.environ, "OCR_HOST": "127.0.0.1", "OCR_PORT": str(port), "OCR_RESULTS_DIR": str(results),
           "PYTHONWARNINGS": "ignore", **environment}
    log = open(tmp_path_factory.mktemp(f"{name}-log") / "gunicorn.log", "w+")
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                               preexec_fn=address_space_cap(memory_cap_mb) if memory_cap_mb else None)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if requests.get(f"{base_url}/health", timeout=2).json()["model_loaded"]:
                break
        except requests.RequestException:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            log.seek(0)
            pytest.fail(f"gunicorn did not become ready:\n{log.read()}")
        time.sleep(0.3)
    try:
        yield {"url": base_url, "results": results, "process": process, "log": log}
    finally:
        process.terminate()
        process.wait(30)
        log.close()


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """A real gunicorn with the default (embedded) engine."""
    yield from start_gunicorn(tmp_path_factory, "server")
