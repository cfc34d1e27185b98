"""Lone colons: the ":" a receipt or form prints in a column of its own, between its labels and their values.

    Doc No.       : CS00067741
    Cashier       : USER

The detector finds text by its strokes; two dots a label's width away from the label make no line to it, so "Doc
No. : CS00067741" came back "Doc No. CS00067741". On the dev set's 13 receipts, about 25 such colons were lost, and
the space beside each. Here they are found in the page's pixels: two small round marks, one above the other and
nothing else in line with them, outside every found line, on the row of a line just to their left and smaller than
it. Each becomes a line of its own, which layout places in its row like any other.
"""
from __future__ import annotations

import numpy as np

from deepseek_ocr_api.engines.reading_order import TextLine, lines_from_quads

# Ink is this many grey levels darker than its neighbourhood (faint_print's measure).
INK_CONTRAST = 20
# A dot's width and height, as a share of its row's line height: a printed colon's dot is about a sixth of it.
DOT_SIZE = (0.06, 0.3)
MAX_DOT_ELONGATION = 2.5  # a dot is round-ish; a hyphen or a stroke is not
DOT_FILL = 0.4  # of its bounding box a dot's ink covers at least this much
# The gap between a colon's dots, in dot heights, and the colon's height as a share of its row's line height.
DOT_GAP = (0.5, 4.0)
COLON_HEIGHT = (0.25, 0.85)
MAX_LABEL_GAP = 10.0  # the colon is at most this many line heights right of its label (short labels, aligned colons)
MAX_DOT_AREA_RATIO = 2.0  # a colon's dots are alike
# A colon is printed as its label is: its dots are at least this share as far from the paper's grey as the label's
# ink is. The mottle of thermal paper passes the ink threshold too, but paler.
MIN_DARKNESS = 0.35
# Colons set apart from their labels stand in a column: each has another (found here or by the detector) within
# this many dot heights of its x.
# A lone pair of specks in the mottle of thermal paper has none.
ALIGNED = 1.0
CLEAR_AROUND = 0.5  # no other mark within this many colon heights of its dots


def lone_colons(gray: np.ndarray, lines: list[TextLine], angle: float = 0.0) -> list[TextLine]:
    """The colons of the page (`gray`, in page pixels) that none of `lines` holds, each a line placed as
    lines_from_quads places lines on a page layout turns straight by `angle`, with its label's confidence."""
    import cv2

    if not lines:
        return []
    boxes = np.array([line.pixels for line in lines], dtype=np.float64)
    heights = boxes[:, 3] - boxes[:, 1]
    block = max(15, round(2 * float(np.median(heights)))) | 1
    ink = cv2.adaptiveThreshold(gray, 1, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, block, INK_CONTRAST)
    _, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    x, y, w, h, area = (stats[1:, i].astype(np.float64) for i in range(5))
    line_height = float(np.median(heights))
    dots = np.flatnonzero((np.minimum(w, h) >= DOT_SIZE[0] * line_height)
                          & (np.maximum(w, h) <= DOT_SIZE[1] * heights.max())
                          & (np.maximum(w, h) <= MAX_DOT_ELONGATION * np.minimum(w, h)) & (area >= DOT_FILL * w * h))
    cx, cy = x + w / 2, y + h / 2
    inside = np.zeros(len(dots), dtype=bool)
    for left, top, right, bottom in boxes:
        inside |= (cx[dots] >= left - 2) & (cx[dots] <= right + 2) & (cy[dots] >= top - 2) & (cy[dots] <= bottom + 2)
    dots = dots[~inside]
    # Marks outside the lines stacked in one column: a colon's two dots, or a dotted rule's many.
    dots = dots[np.argsort(cx[dots])]
    widest = float(w[dots].max()) if len(dots) else 0.0
    columns: dict[int, list[int]] = {}
    for index in dots:
        start, stop = np.searchsorted(cx[dots], [cx[index] - widest, cx[index] + widest], side="left")
        near = [other for other in dots[start:stop + 1]
                if abs(cx[other] - cx[index]) <= max(w[index], w[other]) / 2
                and abs(cy[other] - cy[index]) <= 6 * max(h[index], h[other])]
        columns[index] = sorted(near, key=lambda other: cy[other])
    found = []
    for index in dots:
        pair = columns[index]
        if len(pair) != 2 or pair[0] != index or columns[pair[1]] != pair:
            continue
        upper, lower = pair
        dot_height = max(h[upper], h[lower])
        gap = y[lower] - (y[upper] + h[upper])
        if not DOT_GAP[0] * dot_height <= gap <= DOT_GAP[1] * dot_height:
            continue
        if max(area[upper], area[lower]) > MAX_DOT_AREA_RATIO * min(area[upper], area[lower]):
            continue
        x0, y0 = min(x[upper], x[lower]), y[upper]
        x1, y1 = max(x[upper] + w[upper], x[lower] + w[lower]), y[lower] + h[lower]
        # Nothing else beside the dots: a halftone screen's dots come in fields, not pairs.
        margin = CLEAR_AROUND * (y1 - y0)
        near = ((cx >= x0 - margin) & (cx <= x1 + margin) & (cy >= y0 - margin) & (cy <= y1 + margin)
                & (area >= min(area[upper], area[lower]) / 4))
        if near.sum() != 2:
            continue
        colon = lines_from_quads([(":", [[x0, y0], [x1, y0], [x1, y1], [x0, y1]], 1.0)], angle)[0]
        label = _label(lines, colon, dot_height)
        if label is not None and not label.text.endswith((":", "：")) and _as_dark(gray, (upper, lower), stats, label):
            colon.score = label.score
            found.append((colon, cx[upper], dot_height))
    # The column may hold colons the detector found, each a line of its own.
    column = [(colon, middle) for colon, middle, _ in found]
    column += [(line, (line.pixels[0] + line.pixels[2]) / 2) for line in lines if line.text == ":"]
    return [colon for colon, middle, size in found
            if any(other is not colon and abs(middle - x) <= ALIGNED * size for other, x in column)]


def _label(lines: list[TextLine], colon: TextLine, dot_height: float) -> TextLine | None:
    """The line just left of a colon on its row, of whose height the colon and its dots are a share, if any."""
    x0, y0, _, y1 = colon.box
    middle = (y0 + y1) / 2
    best = None
    for line in lines:
        left, top, right, bottom = line.box
        if not (top <= middle <= bottom and right <= x0 and x0 - right <= MAX_LABEL_GAP * line.height):
            continue
        if not (COLON_HEIGHT[0] * line.height <= colon.height <= COLON_HEIGHT[1] * line.height
                and DOT_SIZE[0] * line.height <= dot_height <= DOT_SIZE[1] * line.height):
            continue
        if best is None or right > best.box[2]:
            best = line
    return best


def _as_dark(gray: np.ndarray, dots: tuple[int, int], stats: np.ndarray, label: TextLine) -> bool:
    """Whether both `dots` (components of `stats`, which counts the background first) are nearly as dark as the
    ink of their label."""
    left, top, right, bottom = (int(round(value)) for value in label.pixels)
    region = gray[max(0, top):max(0, bottom), max(0, left):max(0, right)]
    if not region.size:
        return False
    paper, ink = np.percentile(region, (90, 5))
    for dot in dots:
        x, y, w, h = stats[dot + 1, :4]
        if paper - gray[y:y + h, x:x + w].min() < MIN_DARKNESS * (paper - ink):
            return False
    return True
