"""Drop caps: a large initial set into the first lines of a paragraph, beside them.

The detector looks for lines of text and does not find one glyph several lines tall, so the initial would be
lost and its word left without its first letter. Beside each line that starts with blank page to its left,
the page's own pixels are checked for such a glyph; the recogniser reads it, and it joins its word.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from deepseek_ocr_api.engines.reading_order import TextLine

MIN_CAP_LINES = 1.8  # a drop cap is at least this many body lines tall
MAX_CAP_LINES = 6.0
MAX_CAP_WIDTH_LINES = 5.0
# The cap sits at most this far (in line heights) left of its word, with its top near the line's top.
MAX_CAP_GAP_LINES = 1.5
MIN_SCORE = 0.8  # the recogniser's confidence in the initial


def _free_below(index: int, line: TextLine, boxes: np.ndarray, left: float, bottom: float) -> float:
    """How far down the area left of `line` (from `left` to the line, from its top to `bottom`) is free of other
    lines: the top of the first line in it, or `bottom`. `boxes` holds every line's pixels, `line`'s at `index`."""
    x0, y0 = line.pixels[0], line.pixels[1]
    margin = 0.5 * line.height  # the paragraph's next lines, set beside the cap, start where this one does
    inside = ((boxes[:, 2] > left) & (boxes[:, 0] < x0 - margin) & (boxes[:, 3] > y0) & (boxes[:, 1] < bottom))
    inside[index] = False
    return float(boxes[inside, 1].min()) if inside.any() else bottom


def read_drop_caps(gray: np.ndarray, lines: list[TextLine], read: Callable[[np.ndarray], tuple[str, float]]
                   ) -> list[TextLine]:
    """`lines` with each drop cap found on the page (`gray`) joined to the line beside it. `read` recognises one
    BGR image and returns its text and confidence."""
    if not lines:
        return lines
    body = float(np.median([line.height for line in lines]))
    dark_on_light = float(np.median(gray)) >= 128
    boxes = np.array([line.pixels for line in lines], dtype=np.float64)
    result = []
    for index, line in enumerate(lines):
        x0, y0 = int(line.pixels[0]), int(line.pixels[1])
        left = max(0, int(x0 - (MAX_CAP_WIDTH_LINES + MAX_CAP_GAP_LINES) * body))
        top = max(0, int(y0 - 0.6 * body))
        bottom = int(_free_below(index, line, boxes, left, min(gray.shape[0], y0 + MAX_CAP_LINES * body)))
        # A drop cap spans several lines, so the next line is set beside it too, starting where this one does.
        beside = (np.abs(boxes[:, 0] - x0) < 0.5 * body) & (y0 < boxes[:, 1]) & (boxes[:, 1] < y0 + 2.5 * body)
        beside[index] = False
        if x0 - left < body or bottom - y0 < MIN_CAP_LINES * body or not beside.any():
            result.append(line)
            continue
        area = gray[top:bottom, left:x0]
        ink = area < 128 if dark_on_light else area > 128
        # Ink that belongs to a line the detector found is not a cap: blank out every line that reaches the area.
        for ox0, oy0, ox1, oy1 in boxes[(boxes[:, 3] > top) & (boxes[:, 1] < bottom) & (boxes[:, 2] > left)
                                        & (boxes[:, 0] < x0)].astype(int):
            ink[max(0, oy0 - top):max(0, oy1 - top), max(0, ox0 - left):max(0, ox1 - left)] = False
        rows, columns = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
        found = None
        if len(rows) and len(columns):
            # The glyph nearest the line: the run of inked columns that ends closest to it.
            ends = np.flatnonzero(np.diff(columns) > 1)
            start = columns[ends[-1] + 1] if len(ends) else columns[0]
            glyph = ink[:, start:]
            rows = np.flatnonzero(glyph.any(axis=1))
            height, width = rows[-1] - rows[0] + 1, columns[-1] - start + 1
            near = x0 - (left + columns[-1]) <= MAX_CAP_GAP_LINES * body and rows[0] + top <= y0 + body
            if near and MIN_CAP_LINES * body <= height <= MAX_CAP_LINES * body and width <= MAX_CAP_WIDTH_LINES * body:
                pad = int(0.2 * body)
                crop = gray[max(0, top + rows[0] - pad):top + rows[-1] + 1 + pad,
                            max(0, left + start - pad):left + columns[-1] + 1 + pad]
                text, score = read(np.repeat(crop[:, :, None], 3, axis=2))
                text = text.strip()
                if 1 <= len(text) <= 2 and text.isalpha() and score >= MIN_SCORE:
                    found = (text, left + start)
        if found is None:
            result.append(line)
            continue
        text, cap_x0 = found
        box = (line.box[0] - (x0 - cap_x0), line.box[1], line.box[2], line.box[3])
        page_box = (cap_x0, line.pixels[1], line.pixels[2], line.pixels[3]) if line.page_box else None
        result.append(replace(line, text=text + line.text, box=box, page_box=page_box))
    return result
