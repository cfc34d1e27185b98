"""Text printed in a halftone: a screen of fine dots instead of solid ink.

Analyst reports print headings, banners and table headers that way (grey text as loose dots, white text on a
dark screen whose dots touch). The detector takes such dots for noise and finds no line there. The page's halftone
regions are found in its pixels, smoothed into solid grey, and searched for lines again; only lines where the first
search found none are kept.
"""
from __future__ import annotations

import numpy as np

from deepseek_ocr_api.engines.reading_order import Box, inside_share, union

DOT_INK = 160  # darker than this is ink
DOT_AREA = 12  # a dot: a speck of ink at most this many pixels, and at most DOT_SIDE wide and high
DOT_SIDE = 5
DOTS_PER_LINE = 2.0
SCREEN_CONTRAST = 40  # the mean difference between a dark screen and its smoothed self over such a window
SMOOTH_SIGMA = 1.5  # the Gaussian that turns a screen into solid grey
GRID = 4
MIN_REGION_LINES = 4.0  # a region covers at least this many square line heights
NEW_LINE_COVERED = 0.3  # a line found in a halftone region is new where lines already found cover less of it
# The recogniser's least confidence in a line found there: print screened in dots reads at 0.9-1.0, while noise
# on a faint receipt stretched to black and white, whose specks also crowd like dots, reads at 0.6 ("U/R 2K0U").
HALFTONE_MIN_SCORE = 0.8
SCREENED_PIECE = 0.5  # a line found on the page that a line found in a halftone covers this much of is a piece of it
BAR_LINES = 3.0
BAR_WIDTH_LINES = 10.0


def halftone_regions(gray: np.ndarray, line_height: float) -> tuple[list[Box], list[Box]]:
    """The boxes of the page's halftone regions, a line height wider all round: loose dots dense enough to draw
    text, and dark screens whose dots touch; and the bars among the screens (at most BAR_LINES line heights high,
    at least BAR_WIDTH_LINES wide), which a title knocked out in white runs across. The maps are averaged over
    cells of GRID pixels square (a 300-dpi page's maps at full size took 0.4 s)."""
    import cv2

    ink = (gray < DOT_INK).astype(np.uint8)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    dots = ((stats[:, cv2.CC_STAT_AREA] <= DOT_AREA) & (stats[:, cv2.CC_STAT_WIDTH] <= DOT_SIDE)
            & (stats[:, cv2.CC_STAT_HEIGHT] <= DOT_SIDE))
    dots[0] = False  # the background
    height, width = gray.shape
    cells = (max(1, width // GRID), max(1, height // GRID))
    window = max(3, int(line_height / GRID)) | 1
    # Per cell, the share of its pixels in dots; over a window one line height square, the dots' pixels per pixel
    # of line height.
    share = cv2.resize((dots * np.uint8(255)).astype(np.uint8)[labels], cells, interpolation=cv2.INTER_AREA)
    loose = cv2.boxFilter(share.astype(np.float32) / 255, -1, (window, window)) * (window * GRID) ** 2 > (
        DOTS_PER_LINE * line_height)
    contrast = cv2.resize(cv2.absdiff(gray, cv2.GaussianBlur(gray, (0, 0), SMOOTH_SIGMA)), cells,
                          interpolation=cv2.INTER_AREA)
    kernel = np.ones((window, window), np.uint8)
    screen = cv2.morphologyEx((cv2.blur(contrast, (window, window)) > SCREEN_CONTRAST).astype(np.uint8),
                              cv2.MORPH_OPEN, kernel)
    margin = int(line_height)

    def boxes(found: np.ndarray) -> list[tuple[int, int, int, int, int]]:
        stats = cv2.connectedComponentsWithStats(found.astype(np.uint8))[2][1:]
        return [(x * GRID, y * GRID, (x + w) * GRID, (y + h) * GRID, area * GRID * GRID) for x, y, w, h, area in stats]

    # A screen narrower than a line of text is a photograph's texture or a logo, not a box to print text in.
    screens = [box[:4] for box in boxes(screen) if box[2] - box[0] >= BAR_WIDTH_LINES * line_height]
    found = [box for box in boxes(cv2.dilate(loose.astype(np.uint8), kernel))
             if box[4] >= MIN_REGION_LINES * line_height ** 2]
    regions = [(max(0, x0 - margin), max(0, y0 - margin), min(width, x1 + margin), min(height, y1 + margin))
               for x0, y0, x1, y1, *_ in found + screens]
    bars = [(x0, y0, x1, y1) for x0, y0, x1, y1 in screens if y1 - y0 <= BAR_LINES * line_height]
    return _merged(regions), bars


def _merged(boxes: list[Box]) -> list[Box]:
    """Boxes that overlap joined into one, until none do: a line must not be cut between two regions."""
    merged: list[Box] = []
    for box in boxes:
        # The union of a box and those it overlaps may overlap others in turn.
        while touching := [other for other in merged if inside_share(box, other) > 0]:
            merged = [other for other in merged if other not in touching]
            box = union([box, *touching])
        merged.append(box)
    return merged


def smoothed(image: np.ndarray, regions: list[Box]) -> np.ndarray:
    """The page with its halftone regions smoothed into grey."""
    import cv2

    soft = image.copy()
    for x0, y0, x1, y1 in regions:
        soft[y0:y1, x0:x1] = cv2.GaussianBlur(image[y0:y1, x0:x1], (0, 0), SMOOTH_SIGMA)
    return soft


def across_bar(quad: np.ndarray, bars: list[Box]) -> np.ndarray:
    """A line's quad, where its middle lies in a bar, as wide as the bar: layout reads a title bar as a band
    across the page, which no column gutter runs through."""
    x, y = quad[:, 0].mean(), quad[:, 1].mean()
    for x0, y0, x1, y1 in bars:
        if x0 <= x <= x1 and y0 <= y <= y1:
            top, bottom = quad[:, 1].min(), quad[:, 1].max()
            return np.array([[x0, top], [x1, top], [x1, bottom], [x0, bottom]], dtype=quad.dtype)
    return quad


def covered(box: Box, boxes: list[Box]) -> float:
    """The largest share of `box` that one of `boxes` covers."""
    return max((inside_share(box, other) for other in boxes), default=0.0)
