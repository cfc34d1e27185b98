"""Detected lines cut where their pixels show a gap wider than a space between words, lined up with blank space
in the lines around it.

The detector sometimes bridges a narrow column gutter (a line of the left column glued to its neighbour in the
right one), a table's cell border or the gap between a receipt's label and its amount. No reordering of whole
boxes can undo that, so each box's own pixels are checked before it is read.
"""
from __future__ import annotations

from functools import cached_property

import numpy as np

# A gap is a gutter when it is at least this many line heights wide, and every other line within CHANNEL_HEIGHTS
# line heights above or below that spans it is blank there too: a column gutter or a table's column runs down the
# page, while a wide space after a comma or a stretched word space does not line up with blank space in the lines
# around it. Lines are compared, not the page between them, so shading and rules between rows do not count.
GAP_HEIGHTS = 0.65
CHANNEL_HEIGHTS = 2.5
CHANNEL_WIDTH_HEIGHTS = 0.25  # the blank channel through a neighbouring line is at least this wide
# A channel needs lines beside it: at least this many neighbouring lines that cross it blank, or end or start
# within CHANNEL_REACH_HEIGHTS line heights of it. A lone line has no gutter to respect.
MIN_CHANNEL_LINES = 2
CHANNEL_REACH_HEIGHTS = 3.0
MIN_PIECE_HEIGHTS = 3.0  # the text either side of a gutter spans at least this many line heights
MARGIN_HEIGHTS = 0.25  # what a piece or a trimmed box keeps beyond its ink
# Inside a line, a blank this many line heights wide is more than a word space (a receipt's amount and its tax
# code, a label and its value); where the recogniser read no space across it, one is put in.
WIDE_SPACE_HEIGHTS = 0.75
# Punctuation beside Chinese comes in two widths, and the recogniser reads a full-width mark ("）", "：") as its
# ASCII twin where Latin letters or digits stand near it ("1)修正" for "1）修正"). A full-width mark fills a Chinese
# character's cell: the blank either side of it (one wide blank after a bracket, two halves around a centred colon)
# is 0.65-0.8 of the line's character pitch wider than the line's blanks between two Chinese characters; an ASCII
# mark and the word space after it ("(1) 研究") leave 0.3-0.55. Only that way round: where the
# recogniser read a full-width mark, the printed one is full-width or, in a LaTeX source, an ASCII one and a space
# ("安全, 已经"), and the blank after a justified space does not tell those apart. Not the full stop: TeX widens
# the space after an ASCII one, and "．" is rare in Chinese, whose full stop is "。".
FULL_WIDTH = dict(zip(",:;!?)(", "，：；！？）（"))
FULL_WIDTH_BLANK = 0.65
MIN_CHINESE_PAIRS = 2  # neighbouring Chinese characters a line needs for its pitch and usual blank
# Beyond this slope (degrees) a box's columns no longer map to the page's columns: it is left whole.
MAX_SLOPE_DEGREES = 2.0


def _ink(gray: np.ndarray, background: float, contrast: float) -> np.ndarray:
    # Ink differs from the background either way: dark on light or light on dark.
    return np.abs(gray - background) > 0.4 * contrast


def _blank_columns(ink: np.ndarray) -> np.ndarray:
    return ink.sum(axis=0) <= max(1, 0.04 * ink.shape[0])


def _inked_columns(crop: np.ndarray) -> tuple[np.ndarray, float, float] | None:
    """The columns of a line's straightened image that hold ink, with the background and contrast that told ink
    from paper; None where there is no contrast to go by."""
    gray = crop.sum(axis=2, dtype=np.uint16) / 3.0  # the mean of the channels, without a float64 pass per channel
    low, background, high = np.percentile(gray, (2, 50, 98))
    if high - low < 40:
        return None
    background, contrast = float(background), float(high - low)
    return np.flatnonzero(~_blank_columns(_ink(gray, background, contrast))), background, contrast


class LineImage:
    """A detected line's straightened image, with its inked columns worked out once: cutting, trimming and
    spacing a line all go by them (three times over every line of a page cost 0.3 s on a 200-line page)."""

    def __init__(self, pixels: np.ndarray):
        self.pixels = pixels

    @cached_property
    def ink(self) -> tuple[np.ndarray, float, float] | None:
        return _inked_columns(self.pixels)


def _longest_run(flags: np.ndarray) -> int:
    longest = current = 0
    for flag in flags:
        current = current + 1 if flag else 0
        longest = max(longest, current)
    return longest


def _bounds(quad: np.ndarray) -> tuple[int, int, int, int]:
    return int(quad[:, 0].min()), int(quad[:, 1].min()), int(quad[:, 0].max()), int(quad[:, 1].max())


def bounds(quads) -> list[tuple[int, int, int, int]]:
    """Each quad's axis-aligned box (x0, y0, x1, y1), as `gaps` takes the page's lines."""
    return [_bounds(np.asarray(quad)) for quad in quads]


def gaps(page: np.ndarray, quad: np.ndarray, crop: LineImage, lines: list[tuple[int, int, int, int]]
         ) -> list[tuple[int, int]]:
    """The blank column runs of a line's straightened image (`crop`) that a gutter runs through, in its pixels.

    `page` is the whole page in grey, `quad` the line's box on it (top-left, top-right, bottom-right,
    bottom-left), `lines` the boxes of all the page's lines (`bounds`).
    """
    height = crop.pixels.shape[0]
    (x0, y0), (x1, y1) = quad[0], quad[1]
    if abs(np.degrees(np.arctan2(y1 - y0, x1 - x0))) > MAX_SLOPE_DEGREES:
        return []
    profile = crop.ink
    if profile is None:
        return []
    inked, background, contrast = profile
    if len(inked) < 2:
        return []
    blank = np.diff(inked) - 1
    # Both sides hold text of some length: a list's "1)" or a receipt's tax code beside its amount stays attached.
    wide = [index for index in np.flatnonzero(blank >= GAP_HEIGHTS * height)
            if min(inked[index] - inked[0], inked[-1] - inked[index + 1]) >= MIN_PIECE_HEIGHTS * height]
    if not wide:
        return []
    _, top, _, bottom = _bounds(quad)
    own = _bounds(quad)
    near = [box for box in lines if box != own and box[3] > top - CHANNEL_HEIGHTS * height
            and box[1] < bottom + CHANNEL_HEIGHTS * height]
    result = []
    for index in wide:
        start, end = int(inked[index]) + 1, int(inked[index + 1])
        left, right = int(x0) + start, int(x0) + end
        reach = CHANNEL_REACH_HEIGHTS * height
        beside = [box for box in near if left - reach < box[2] <= right or left <= box[0] < right + reach]
        crossing = [box for box in near if box[0] < left and box[2] > right]
        if len(beside) + len(crossing) >= MIN_CHANNEL_LINES and all(
                _longest_run(_blank_columns(_ink(page[box[1]:box[3], left:right].astype(np.float32), background,
                                                 contrast))) >= CHANNEL_WIDTH_HEIGHTS * height
                for box in crossing):
            result.append((start, end))
    return result


def _piece(quad: np.ndarray, width: int, left: float, right: float) -> np.ndarray:
    """The part of a box (top-left, top-right, bottom-right, bottom-left) between `left` and `right`, measured in
    its straightened image of `width` pixels."""
    top_left, top_right, bottom_right, bottom_left = (np.asarray(point, dtype=np.float32) for point in quad)
    a, b = left / width, right / width
    return np.array([top_left + a * (top_right - top_left), top_left + b * (top_right - top_left),
                     bottom_left + b * (bottom_right - bottom_left), bottom_left + a * (bottom_right - bottom_left)],
                    dtype=np.float32)


def split_quad(quad: np.ndarray, width: int, height: int, cuts: list[tuple[int, int]]) -> list[np.ndarray]:
    """The pieces of a box either side of each gap, measured in its straightened image of `width` pixels, with a
    little of the gap kept as margin."""
    margin = MARGIN_HEIGHTS * height
    edges = [0.0]
    for start, end in cuts:
        edges += [min(start + margin, end), max(end - margin, start)]
    edges.append(float(width))
    return [_piece(quad, width, left, right) for left, right in zip(edges[0::2], edges[1::2])]


def trim_to_ink(quad: np.ndarray, crop: LineImage) -> np.ndarray:
    """The box with its ends moved in to its ink, keeping MARGIN_HEIGHTS of margin.

    The detector pads a box beyond its ink, most for a short or letter-spaced line: by up to two line heights
    on a justified Chinese page, across a gutter narrower than that. Layout places lines by their ink.
    """
    height, width = crop.pixels.shape[:2]
    profile = crop.ink
    if profile is None or not len(profile[0]):
        return quad
    inked = profile[0]
    margin = MARGIN_HEIGHTS * height
    left, right = max(0.0, inked[0] - margin), min(float(width), inked[-1] + 1 + margin)
    if left == 0.0 and right == float(width):
        return quad
    return _piece(quad, width, left, right)


def _widest_blank(inked: np.ndarray, left: float, right: float) -> float:
    """The widest run of blank columns between pixel columns `left` and `right`, given a line's inked columns."""
    within = inked[(inked >= left) & (inked <= right)]
    return float(np.diff(np.concatenate(([left], within, [right]))).max()) - 1


def _chinese(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fff" or "\u3400" <= char <= "\u4dbf"


def full_width_punctuation(text: str, steps: list[tuple[int, int]], crop: LineImage, step_width: float) -> str:
    """`text` with each ASCII punctuation mark beside a Chinese character made full-width where its blank shows a
    full-width mark (FULL_WIDTH, FULL_WIDTH_BLANK): "1)修正" reads "1）修正". A closing bracket takes the width of the
    opening one before it on the line. Character for character, so `steps` still fit.

    `steps` holds the recogniser's time steps of each character (first, last), `step_width` the crop's pixels per
    time step.
    """
    profile = crop.ink
    if len(steps) != len(text) or profile is None or not any(char in FULL_WIDTH for char in text):
        return text
    inked = profile[0]
    middles = [(sum(step) / 2 + 0.5) * step_width for step in steps]
    pairs = [index for index in range(len(text) - 1) if _chinese(text[index]) and _chinese(text[index + 1])]
    if len(pairs) < MIN_CHINESE_PAIRS:
        return text
    pitch = float(np.median([middles[index + 1] - middles[index] for index in pairs]))
    usual = float(np.median([_widest_blank(inked, middles[index], middles[index + 1]) for index in pairs]))
    marks, opened = list(text), []
    for index, char in enumerate(text):
        if char in "(（":
            opened.append(index)
        if char not in FULL_WIDTH:
            continue
        if char == ")" and opened:  # brackets come in pairs of one width: "(a)" stays ASCII, "（见图）" full
            marks[index] = ")" if marks[opened.pop()] == "(" else "）"
            continue
        before = next((other for other in range(index - 1, -1, -1) if text[other] != " "), None)
        after = next((other for other in range(index + 1, len(text)) if text[other] != " "), None)
        if before is None or after is None or not (_chinese(text[before]) or _chinese(text[after])):
            continue
        blank = (_widest_blank(inked, middles[before], middles[index])
                 + _widest_blank(inked, middles[index], middles[after]))
        if blank - usual >= FULL_WIDTH_BLANK * pitch:
            marks[index] = FULL_WIDTH[char]
    return "".join(marks)


def spaced(text: str, steps: list[tuple[int, int]], crop: LineImage, step_width: float) -> str:
    """`text` as read from a line's straightened image (`crop`), with a space between two characters that stand
    further apart than WIDE_SPACE_HEIGHTS line heights of blank where the recogniser read none.

    `steps` holds the recogniser's time steps of each character (first, last), `step_width` the crop's pixels per
    time step. Only between two characters that are not Chinese: Chinese takes no spaces.
    """
    height = crop.pixels.shape[0]
    if len(text) < 2 or len(steps) != len(text):
        return text
    profile = crop.ink
    if profile is None or len(profile[0]) < 2:
        return text
    inked = profile[0]
    result = text[0]
    for index in range(1, len(text)):
        before, after = text[index - 1], text[index]
        if before != " " and after != " " and before.isascii() and after.isascii():
            # The blank between the middles of the two characters' time steps.
            left = (sum(steps[index - 1]) / 2 + 0.5) * step_width
            right = (sum(steps[index]) / 2 + 0.5) * step_width
            if _widest_blank(inked, left, right) >= WIDE_SPACE_HEIGHTS * height:
                result += " "
        result += after
    return result
