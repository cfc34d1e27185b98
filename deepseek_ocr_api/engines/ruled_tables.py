"""Ruled tables: the cells a printed grid draws on the page, found in its pixels.

Where a table draws its borders, they say which lines belong together: a cell holding three lines of notes is one
cell, beside the one-line cells of its row. Without the rules, boxes can only be paired row by row, which tears a
multi-line cell apart and drops its neighbours' text in the middle of it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from deepseek_ocr_api.engines.reading_order import Box, inside_share, turned_straight

# A rule is a straight run of ink at least this many line heights long: longer than any stroke of a letter, shorter
# than the side of the smallest cell worth finding.
RULE_HEIGHTS = 3.0
RULE_GAP = 3  # pixels: a rule broken for no more than this runs on
RULE_SLACK = 5  # pixels of thickening across a rule: a 1.5-degree skew drifts 2 px over a 3-line rule at 200 dpi
# A dotted rule: dots at most this many line heights across, at most this far apart.
DOT_HEIGHTS = 0.2
DOT_GAP_HEIGHTS = 0.3
BAND_HEIGHTS = 3.0  # a band shaded in dots is at most this many line heights across
NOISE_SHARE = 0.02  # wider fields of specks over more of the page than this: a noisy scan or a halftone picture
# Ink is darker than the local background by this much (grey levels); rules in tables are often light grey.
INK_CONTRAST = 12
# A cell is at least this many line heights high and wide; smaller holes in the grid are where rules cross.
MIN_CELL_HEIGHTS = 0.8
CELL_FILL = 0.6
MAX_CELLS = 2000  # more holes than this is a grid pattern (graph paper, a texture), not a table to read
# Of the text lines whose middle is inside a grid, at least this share lie within one of its cells (this much of
# their box): a grid whose rules cross text, or that frames text it leaves outside its cells, is a texture, a page
# border or a row of boxes, not a table.
CELL_LINE_SHARE = 0.85
INSIDE_SHARE = 0.8
SHADED_SHARE = 0.5
FILL_HEIGHTS = 0.5  # an area of flat shade this many line heights across both ways is a filled cell, not a rule


@dataclass
class RuledTable:
    """One grid: its box and its cells, each a box in the pixels its lines were given in."""

    box: Box
    cells: list[Box]

    def encloses(self, box: Box) -> bool:
        """Whether the middle of `box` lies inside the table."""
        x, y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        return self.box[0] <= x <= self.box[2] and self.box[1] <= y <= self.box[3]

    def cell_of(self, box: Box) -> int | None:
        """The index of the smallest cell holding the middle of `box`, or None."""
        x, y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        holding = [(index, (cell[2] - cell[0]) * (cell[3] - cell[1])) for index, cell in enumerate(self.cells)
                   if cell[0] <= x <= cell[2] and cell[1] <= y <= cell[3]]
        return min(holding, key=lambda pair: pair[1])[0] if holding else None

    def moved(self, dx: float, dy: float) -> RuledTable:
        return RuledTable(_moved(self.box, dx, dy), [_moved(cell, dx, dy) for cell in self.cells])


def _moved(box: Box, dx: float, dy: float) -> Box:
    return box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy


def _along(size: int, down: bool) -> np.ndarray:
    """A line of `size` pixels: down the page, or across it."""
    return np.ones((size, 1) if down else (1, size), np.uint8)


def _specks(ink: np.ndarray, line_height: float) -> np.ndarray:
    """The specks of ink: no more than DOT_HEIGHTS line heights high (dots, the dots of a dotted rule where they
    touch in a row, dashes, a crossing of two dotted rules), or that narrow and under half a line high (dots that
    touch in a column). Not letters: a column of ')' joined down a table would become a rule."""
    import cv2

    size = max(3, round(DOT_HEIGHTS * line_height))
    _, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    width, height = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
    specks = (height <= size) | ((width <= size) & (height < line_height / 2))
    specks[0] = False
    return specks[labels].astype(np.uint8)


def _joined_dots(ink: np.ndarray, line_height: float) -> tuple[np.ndarray, np.ndarray]:
    """The ink with the dots of dotted rules joined: across (horizontal rules) and down (vertical ones).

    Specks lying in a line with small gaps are joined into runs of a line height or more (a dotted rule between two
    crossings); a run then reaches on by a gap at each end, across the clump where another rule crosses it. Only
    specks are joined: a line of text joined so would become a rule. A band shaded in a halftone (specks in two
    dimensions, a line height or more each way, up to BAND_HEIGHTS across) holds runs both ways, so it is ink, but
    they reach no further than the band. A wider field of specks holds none, and where such fields cover more than
    NOISE_SHARE of the page (a noisy scan), no dots are joined at all: there dotted rules cannot be told from noise.
    """
    import cv2

    specks = _specks(ink, line_height)
    gap = max(3, round(DOT_GAP_HEIGHTS * line_height)) + 1
    run = max(3, round(line_height))
    runs = [cv2.morphologyEx(cv2.morphologyEx(specks, cv2.MORPH_CLOSE, _along(gap, down)), cv2.MORPH_OPEN,
                             _along(run, down)) for down in (False, True)]
    if not any((direction > ink).any() for direction in runs):
        return ink, ink  # nothing joined (most pages: no dotted rule, or only solid ones): spare the rest
    fill = cv2.morphologyEx(cv2.morphologyEx(specks, cv2.MORPH_CLOSE, np.ones((gap, gap), np.uint8)),
                            cv2.MORPH_OPEN, np.ones((run, run), np.uint8))
    beside_fill = cv2.dilate(fill, np.ones((gap, gap), np.uint8))
    # A shaded band (a header row) is ink; a wider field of specks (noise on a poor scan, a halftone picture)
    # holds no rules.
    _, labels, stats, _ = cv2.connectedComponentsWithStats(fill, connectivity=8)
    field = np.minimum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]) > BAND_HEIGHTS * line_height
    field[0] = False
    no_rules = 1 - field[labels].astype(np.uint8)
    if 1 - no_rules.mean() > NOISE_SHARE:
        return ink, ink  # specks everywhere: dots in a line are no sign of a rule on this page
    return tuple(ink | (direction & no_rules) | cv2.dilate(direction & (1 - beside_fill), _along(2 * gap + 1, down))
                 for direction, down in zip(runs, (False, True)))


def _rules(ink: np.ndarray, line_height: float, length: int):
    """The horizontal and the vertical runs of ink at least `length` pixels long, dotted rules joined. The ink is
    thickened across a rule's direction first, so that the rules of a page scanned a degree or two askew still run
    straight. Pieces of rule a line height long or more, broken for a few pixels (where a shaded header row's
    separator meets the rule under the row), run on."""
    import cv2

    def runs(image: np.ndarray, down: bool) -> np.ndarray:
        thick = cv2.dilate(image, _along(RULE_SLACK, not down))
        pieces = cv2.morphologyEx(thick, cv2.MORPH_OPEN, _along(max(3, round(line_height)), down))
        return cv2.morphologyEx(thick | cv2.morphologyEx(pieces, cv2.MORPH_CLOSE, _along(RULE_GAP + 1, down)),
                                cv2.MORPH_OPEN, _along(length, down))

    across, down = _joined_dots(ink, line_height)
    return runs(across, down=False), runs(down, down=True)


def find_ruled_tables(gray: np.ndarray, lines: list[Box], angle: float = 0.0) -> list[RuledTable]:
    """The ruled tables of a page (greyscale pixels), given the boxes of its text lines.

    A table is a connected set of horizontal and vertical rules that closes at least two cells side by side and
    two above one another, and holds its text inside its cells. A single frame (a boxed note, a code listing) or
    rules only between rows (a booktabs table) is not one: there the lines' own positions decide.

    On a page scanned askew, `angle` is the skew layout turns it straight by (reading_order.straightening), and
    `lines` and the tables found are in the page turned straight (TextLine.box). Its pixels are turned straight
    first: the rules of a table 1.5 degrees askew drift 37 px over 1400 px, too far to run as one rule.
    """
    if angle:
        turned, (left, top) = _turned_straight(gray, angle)
        return [table.moved(left, top) for table in
                find_ruled_tables(turned, [_moved(box, -left, -top) for box in lines])]
    import cv2

    if not lines:
        return []
    line_height = float(np.median([box[3] - box[1] for box in lines]))
    length = max(15, round(RULE_HEIGHTS * line_height))
    if min(gray.shape) < 2 * length:
        return []
    block = max(15, round(2 * line_height)) | 1
    ink = cv2.adaptiveThreshold(gray, 1, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, block, INK_CONTRAST)
    # Beside dark text the local mean drops and a light rule fades out of the adaptive threshold; against the
    # page's own background it still shows. The inside of a shaded cell (a header row filled grey or in colour) is
    # no ink: its edge still closes the cell, and the adaptive threshold draws its text.
    dark = (gray < float(np.median(gray)) - 2 * INK_CONTRAST).astype(np.uint8)
    square = np.ones((max(3, round(FILL_HEIGHTS * line_height)),) * 2, np.uint8)
    ink |= dark & (1 - cv2.erode(cv2.morphologyEx(dark, cv2.MORPH_OPEN, square), square))
    horizontal, vertical = _rules(ink, line_height, length)
    if not vertical.any() or not horizontal.any():
        return []
    # Rules drawn a pixel apart or meeting a pixel short of each other still close their cells.
    grid = cv2.dilate(horizontal | vertical, np.ones((3, 3), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(grid, connectivity=8)
    min_cell = MIN_CELL_HEIGHTS * line_height
    # A line printed over shading that reads as rules' ink (a header row in halftone) is in no cell; it is read
    # beside the table, not held against it.
    unshaded = [box for box in lines if _shaded(grid, box) < SHADED_SHARE]
    tables = []
    for label in range(1, count):
        x, y, width, height = stats[label, :4]
        if width < 2 * length or height < 2 * length:
            continue
        inside = (labels[y:y + height, x:x + width] != label).astype(np.uint8)
        holes, _, hole_stats, _ = cv2.connectedComponentsWithStats(inside, connectivity=4)
        cells = []
        for hole in range(1, holes):
            hx, hy, hw, hh, area = hole_stats[hole]
            touches_edge = hx == 0 or hy == 0 or hx + hw == width or hy + hh == height
            # A cell fills its box; the thin space winding between double rules does not.
            if not touches_edge and hw >= min_cell and hh >= min_cell and area >= CELL_FILL * hw * hh:
                cells.append((float(x + hx), float(y + hy), float(x + hx + hw), float(y + hy + hh)))
        table = RuledTable((float(x), float(y), float(x + width), float(y + height)), cells)
        if _is_grid(cells, line_height) and _holds_its_text(table, unshaded):
            tables.append(table)
    return tables


def _turned_straight(gray: np.ndarray, angle: float) -> tuple[np.ndarray, tuple[float, float]]:
    """The page's pixels turned straight as reading_order.turned_straight turns a point, and where the turned
    image's top-left corner lies in that frame. The corners the turn brings in are the page's median grey, not
    an edge that could pass for a rule."""
    import cv2

    height, width = gray.shape
    corners = [turned_straight(x, y, angle) for x, y in ((0, 0), (width, 0), (width, height), (0, height))]
    left, top = min(x for x, _ in corners), min(y for _, y in corners)
    size = (math.ceil(max(x for x, _ in corners) - left), math.ceil(max(y for _, y in corners) - top))
    # The turn's matrix: where the page's unit steps across and down land, so pixels and points turn alike.
    (across_x, across_y), (down_x, down_y) = turned_straight(1, 0, angle), turned_straight(0, 1, angle)
    matrix = np.array([[across_x, down_x, -left], [across_y, down_y, -top]])
    return cv2.warpAffine(gray, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=float(np.median(gray))), (left, top)


def _shaded(grid: np.ndarray, box: Box) -> float:
    """The share of `box` that the grid's ink covers."""
    x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
    area = grid[y0:max(y0, int(box[3])), x0:max(x0, int(box[2]))]
    return float(area.mean()) if area.size else 0.0


def _holds_its_text(table: RuledTable, lines: list[Box]) -> bool:
    within = [box for box in lines if table.encloses(box)]
    if not within:
        return False
    in_cells = sum(1 for box in within if any(inside_share(box, cell) >= INSIDE_SHARE for cell in table.cells))
    return in_cells >= CELL_LINE_SHARE * len(within)


def _is_grid(cells: list[Box], line_height: float) -> bool:
    """Whether cells stand both side by side and above one another somewhere, and none lies inside another's box
    (rules of a texture, or of a frame around text with boxes inside it). Graph paper is not a table: past
    MAX_CELLS the grid is left alone, which also bounds the pairwise comparison."""
    if len(cells) > MAX_CELLS:
        return False
    boxes = np.asarray(cells, dtype=np.float64).reshape(-1, 4)
    x0, y0, x1, y1 = (boxes[:, index] for index in range(4))
    middle_x, middle_y = (x0 + x1) / 2, (y0 + y1) / 2
    # [i, j]: cell i compared with cell j
    holds = ((x0[:, None] <= middle_x[None, :]) & (middle_x[None, :] <= x1[:, None])
             & (y0[:, None] <= middle_y[None, :]) & (middle_y[None, :] <= y1[:, None]))
    np.fill_diagonal(holds, False)
    if holds.any():
        return False
    shared_height = np.minimum(y1[:, None], y1[None, :]) - np.maximum(y0[:, None], y0[None, :])
    shared_width = np.minimum(x1[:, None], x1[None, :]) - np.maximum(x0[:, None], x0[None, :])
    side_by_side = (shared_height > line_height / 2) & (x1[:, None] <= x0[None, :])
    stacked = (shared_width > line_height / 2) & (y1[:, None] <= y0[None, :])
    return bool(side_by_side.any() and stacked.any())
