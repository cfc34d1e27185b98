"""OCR_ENGINE=none: a web instance without a model, in front of RQ workers that read every page (OCR_JOB_QUEUE)."""
from __future__ import annotations

from typing import Any

from PIL import Image

from deepseek_ocr_api.engines.base import Engine, Generation, OcrOutput
from deepseek_ocr_api.tasks import TASK_PRESETS, Task


class QueueOnlyEngine(Engine):
    """Loads nothing and reads nothing: /ocr and /jobs go through the job queue, and the workers' engine judges each
    request's task and mode (a job it cannot read fails with the 400 /ocr would have given)."""

    name = "none"
    supported_tasks = (*TASK_PRESETS, "custom")
    reads_through_queue = True

    def load(self) -> None:
        """Nothing to load."""

    def infer(self, image: Image.Image, task: Task, mode: str, generation: Generation | None = None) -> OcrOutput:
        raise RuntimeError("OCR_ENGINE=none reads nothing itself; pages go to the RQ workers")

    def unload(self) -> None:
        """Nothing to unload."""

    def check_task(self, task: Task) -> None:
        """The workers' engine decides."""

    def resolve_mode(self, mode: str | None) -> str:
        return (mode or "").strip().lower()

    def describe(self) -> dict[str, Any]:
        return {"engine": self.name, "model": "none here: RQ workers read the pages (OCR_JOB_QUEUE)", "revision": None,
                "device": "none", "dtype": "none", "quantization": "none", "attention": None,
                "mode": "web instance without a model", "default_mode": "", "resolution_modes": {},
                "supported_tasks": list(self.supported_tasks)}
