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


def _is_cap(line: TextLine, body: float) -> bool:
    """One or two letters, several body lines tall. The recogniser is often unsure of a glyph that large (0.66 for
    a newspaper's "I"); its text is returned either way, and joining it to its line only places it."""
    text = line.text.strip()
    return 1 <= len(text) <= 2 and text.isalpha() and MIN_CAP_LINES * body <= line.height <= MAX_CAP_LINES * body


def _join(cap_text: str, cap: TextLine | None, cap_x0: float, line: TextLine) -> TextLine:
    """`line` with a drop cap joined to its first word; the line keeps its own height, so that layout still reads
    it as the paragraph's first line of body text. `cap` is the cap's box where the detector found one."""
    box = (cap.box[0], line.box[1], line.box[2], line.box[3]) if cap else (
        line.box[0] - (line.pixels[0] - cap_x0), line.box[1], line.box[2], line.box[3])
    page_box = (cap_x0, line.pixels[1], line.pixels[2], line.pixels[3]) if line.page_box else None
    return replace(line, text=cap_text + line.text, box=box, page_box=page_box)


def join_found_caps(lines: list[TextLine], body: float) -> list[TextLine]:
    """`lines` with each drop cap the detector found as a box of its own joined to the line beside its top. Left
    alone, a box several lines tall was read as a heading, after the lines beside it."""
    joined: dict[int, TextLine] = {}
    caps = set()
    for index, cap in enumerate(lines):
        if not _is_cap(cap, body):
            continue
        x1, top = cap.box[2], cap.box[1]
        beside = [other for other in range(len(lines)) if other != index and other not in joined
                  and -0.5 * body <= lines[other].box[0] - x1 <= MAX_CAP_GAP_LINES * body
                  and abs(lines[other].box[1] - top) <= body and lines[other].height <= cap.height / MIN_CAP_LINES]
        if not beside:
            continue
        first = min(beside, key=lambda other: lines[other].box[1])
        line = lines[first]
        # The paragraph's next line is set beside the cap too, starting where the first one does.
        if not any(abs(other.box[0] - line.box[0]) < 0.5 * body and line.box[1] < other.box[1] < cap.box[3]
                   for other in lines):
            continue
        joined[first] = _join(cap.text.strip(), cap, cap.pixels[0], line)
        caps.add(index)
    if not caps:
        return lines
    return [joined.get(index, line) for index, line in enumerate(lines) if index not in caps]


def read_drop_caps(gray: np.ndarray, lines: list[TextLine],
                   read: Callable[[list[np.ndarray]], list[tuple[str, float]]]) -> list[TextLine]:
    """`lines` with each drop cap on the page (`gray`) joined to the line beside it: those the detector found as
    boxes of their own, and those it missed, found in the page's pixels. `read` recognises BGR images, all the
    page's candidates in one call, and returns each one's text and confidence."""
    if not lines:
        return lines
    body = float(np.median([line.height for line in lines]))
    lines = join_found_caps(lines, body)
    dark_on_light = float(np.median(gray)) >= 128
    boxes = np.array([line.pixels for line in lines], dtype=np.float64)
    candidates = {}  # line index: (the glyph's image, its left edge on the page)
    for index, line in enumerate(lines):
        x0, y0 = int(line.pixels[0]), int(line.pixels[1])
        left = max(0, int(x0 - (MAX_CAP_WIDTH_LINES + MAX_CAP_GAP_LINES) * body))
        top = max(0, int(y0 - 0.6 * body))
        bottom = int(_free_below(index, line, boxes, left, min(gray.shape[0], y0 + MAX_CAP_LINES * body)))
        # A drop cap spans several lines, so the next line is set beside it too, starting where this one does.
        beside = (np.abs(boxes[:, 0] - x0) < 0.5 * body) & (y0 < boxes[:, 1]) & (boxes[:, 1] < y0 + 2.5 * body)
        beside[index] = False
        if x0 - left < body or bottom - y0 < MIN_CAP_LINES * body or not beside.any():
            continue
        area = gray[top:bottom, left:x0]
        ink = area < 128 if dark_on_light else area > 128
        # Ink that belongs to a line the detector found is not a cap: blank out every line that reaches the area.
        for ox0, oy0, ox1, oy1 in boxes[(boxes[:, 3] > top) & (boxes[:, 1] < bottom) & (boxes[:, 2] > left)
                                        & (boxes[:, 0] < x0)].astype(int):
            ink[max(0, oy0 - top):max(0, oy1 - top), max(0, ox0 - left):max(0, ox1 - left)] = False
        rows, columns = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
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
                candidates[index] = (np.repeat(crop[:, :, None], 3, axis=2), left + start)
    if not candidates:
        return lines
    readings = dict(zip(candidates, read([image for image, _ in candidates.values()])))
    result = []
    for index, line in enumerate(lines):
        text, score = readings.get(index, ("", 0.0))
        text = text.strip()
        is_cap = 1 <= len(text) <= 2 and text.isalpha() and score >= MIN_SCORE
        result.append(_join(text, None, candidates[index][1], line) if is_cap else line)
    return result
