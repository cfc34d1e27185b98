"""Faint print: a page whose ink the detector mostly missed (a faded or pale-coloured receipt) is read again with
its grey levels stretched.

The detector finds text by its contrast. Pale print scanned poorly (pink thermal print at 480 px wide, blurred,
noisy, a low-quality JPEG) falls under it: on such a receipt of the dev set it found 9 lines of 54. Stretched from
its faintest ink to its paper, the same page gives it back (91% to 38% CER). Stretching every page instead costs
the pages it was not needed on (receipts 3.95% to 4.26%), so only a page whose found lines leave most of its ink
outside them is read again.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from deepseek_ocr_api.engines.reading_order import Box

# Read again when the found lines leave more than this share of the page's letter-sized ink outside them. Over the
# dev set's 45 pages, clean and made scan-like, it is at most 0.27 (a slide's logo, a magazine's photo) except on
# the faded receipt above (0.85).
MAX_UNREAD_INK = 0.5
# Ink is this many grey levels darker than its neighbourhood, after a 3x3 median has taken out single-pixel noise.
INK_CONTRAST = 20
# The check runs on the page scaled down to this long side (about 30 ms a page).
CHECK_SIDE = 1600
STRETCH_PERCENTILES = (0.5, 99.0)  # the faintest ink and the paper, left out of the stretch as outliers


def unread_ink(gray: np.ndarray, boxes: list[Box]) -> float:
    """The share of the page's ink (greyscale pixels) in letter-sized marks that no box (a found line's, in page
    pixels) covers; 0 on a blank page. Rules, pictures and frames are larger than letters and left out."""
    import cv2

    scale = min(1.0, CHECK_SIDE / max(gray.shape))
    if scale < 1.0:
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    boxes = [(x0 * scale, y0 * scale, x1 * scale, y1 * scale) for x0, y0, x1, y1 in boxes]
    line_height = float(np.median([box[3] - box[1] for box in boxes])) if boxes else 20.0 * scale
    block = max(15, round(2 * line_height)) | 1
    ink = cv2.adaptiveThreshold(cv2.medianBlur(gray, 3), 1, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV,
                                block, INK_CONTRAST)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    letters = ((stats[:, cv2.CC_STAT_AREA] >= max(4.0, (line_height / 8) ** 2))
               & (stats[:, cv2.CC_STAT_HEIGHT] <= 2 * line_height) & (stats[:, cv2.CC_STAT_WIDTH] <= 4 * line_height))
    letters[0] = False
    marks = letters[labels]
    total = int(marks.sum())
    if not total:
        return 0.0
    for x0, y0, x1, y1 in boxes:  # padded by 3 px: a box is placed by its ink, and blur spreads the ink
        marks[max(0, int(y0) - 3):max(0, int(y1) + 3), max(0, int(x0) - 3):max(0, int(x1) + 3)] = False
    return float(marks.sum()) / total


def stretched(image: Image.Image) -> Image.Image:
    """The page with its grey levels stretched: its faintest ink (0.5th percentile) to black and its paper (99th)
    to white, the same for each colour channel. A page of one grey is left as it is."""
    pixels = np.asarray(image.convert("RGB"))
    low, high = np.percentile(pixels.mean(axis=2), STRETCH_PERCENTILES)
    if high - low < 8:
        return image
    table = np.clip((np.arange(256, dtype=np.float32) - low) * 255.0 / (high - low), 0, 255).astype(np.uint8)
    return Image.fromarray(table[pixels])
