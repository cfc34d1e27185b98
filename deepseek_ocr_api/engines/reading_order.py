"""Reading order for detected text lines: columns by recursive cuts, then paragraphs and headings."""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from statistics import median

Box = tuple[float, float, float, float]  # x0, y0, x1, y1


def union(boxes: list[Box]) -> Box:
    """The smallest box that holds all of `boxes`."""
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def inside_share(box: Box, other: Box) -> float:
    """The share of `box` that lies inside `other`."""
    width = min(box[2], other[2]) - max(box[0], other[0])
    height = min(box[3], other[3]) - max(box[1], other[1])
    area = (box[2] - box[0]) * (box[3] - box[1])
    return max(0.0, width) * max(0.0, height) / area if area > 0 else 0.0


@dataclass
class TextLine:
    """One detected line: its text, its axis-aligned box and the recogniser's confidence.

    `box` is where layout places the line: page pixels, or, on a skewed page, pixels of the page turned straight.
    `page_box` is then the line's box in the page's own pixels, which is what a client is shown.
    """

    text: str
    box: Box
    score: float = 1.0
    page_box: Box | None = None
    joined: list[TextLine] | None = None  # the boxes a visual line was joined from, left to right

    @property
    def parts(self) -> list[TextLine]:
        return self.joined or [self]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def pixels(self) -> Box:
        return self.page_box or self.box


# Below this skew (degrees) boxes are used as they are.
MIN_SKEW_DEGREES = 0.3


def skew(quads: list) -> float:
    """The page's skew in radians (positive: lines fall to the right), the median slope of the top edges of boxes
    at least three times as wide as high; 0 with fewer than three of them."""
    angles = []
    for quad in quads:
        (x0, y0), (x1, y1), _, (x3, y3) = quad[:4]
        if math.hypot(x1 - x0, y1 - y0) >= 3 * math.hypot(x3 - x0, y3 - y0):
            angles.append(math.atan2(y1 - y0, x1 - x0))
    return median(angles) if len(angles) >= 3 else 0.0


# On a page of Latin text, a line read with less confidence than this that holds Chinese characters is a row of
# ornaments (asterisks, stars, a dotted rule) misread: PP-OCRv6 reads "*****" as "家家家家家".
STRAY_SCRIPT_SCORE = 0.8
CONFIDENT_SCORE = 0.9


def drop_stray_chinese(lines: list[TextLine]) -> list[TextLine]:
    """On a page whose confidently read text is Latin (at most 1 Chinese character in 100), Chinese characters
    in weakly read lines are removed, and lines left with nothing but punctuation are dropped. Full-width forms of
    ASCII characters there become ASCII: the "（POS 6.63）" of "*****(POS 6.63)*****" read as "家家（POS 6.63)家家"
    keeps its brackets."""
    confident = "".join(line.text for line in lines if line.score >= CONFIDENT_SCORE)
    letters = [char for char in confident if char.isalpha()]
    if not letters or sum(_is_cjk(char) for char in letters) > 0.01 * len(letters):
        return lines
    kept = []
    for line in lines:
        if line.score < STRAY_SCRIPT_SCORE and any(_is_cjk(char) for char in line.text):
            text = " ".join("".join(_ascii_or_space(char) for char in line.text).split())
            if not any(char.isalnum() for char in text):
                continue
            line = replace(line, text=text)
        kept.append(line)
    return kept


def _ascii_or_space(char: str) -> str:
    """A character of a stray Chinese reading: a full-width form of an ASCII one ("（", "，") as that ASCII one,
    another Chinese character as a space, anything else as it is."""
    if "\uff01" <= char <= "\uff5e":
        return chr(ord(char) - 0xFEE0)
    return " " if _is_cjk(char) else char


def straightening(quads: list) -> float:
    """The angle (radians) by which layout turns the page straight: its skew, or 0 below MIN_SKEW_DEGREES."""
    angle = skew(quads)
    return angle if abs(math.degrees(angle)) >= MIN_SKEW_DEGREES else 0.0


def turned_straight(x: float, y: float, angle: float) -> tuple[float, float]:
    """A point of the page in the page turned straight (turned by -`angle` about the page's origin)."""
    cos, sin = math.cos(-angle), math.sin(-angle)
    return x * cos - y * sin, x * sin + y * cos


def lines_from_quads(found: list[tuple[str, list, float]], angle: float | None = None) -> list[TextLine]:
    """Lines from the detector's quadrilaterals (top-left, top-right, bottom-right, bottom-left) with their text
    and score. On a skewed page (a photographed receipt) each line is also placed in the page turned straight by
    `angle` (by default the quads' `straightening`), so that a row of a receipt stays one row across its width."""
    if angle is None:
        angle = straightening([quad for _, quad, _ in found])
    lines = []
    for text, quad, score in found:
        xs, ys = [point[0] for point in quad], [point[1] for point in quad]
        page_box = (min(xs), min(ys), max(xs), max(ys))
        if not angle:
            lines.append(TextLine(text, page_box, score))
            continue
        turned_x, turned_y = zip(*(turned_straight(x, y, angle) for x, y in zip(xs, ys)))
        lines.append(TextLine(text, (min(turned_x), min(turned_y), max(turned_x), max(turned_y)), score, page_box))
    return lines


class TableLines(list):
    """The lines of a table or receipt, as order_columns finds them: read row by row."""


@dataclass
class RuledTableLine(TextLine):
    """A ruled table standing in the page as one box: layout places it like a line, and it is read cell by cell.

    `rows` holds its text lines in reading order (cells of one line side by side joined, a cell of several lines
    line by line), `cells` its rows of cell texts under the table's columns."""

    rows: list[TextLine] = field(default_factory=list)
    cells: list[list[str]] = field(default_factory=list)


# A table's cell holds a few lines; more than this and the grid frames panels of text.
MAX_CELL_LINES = 15


def take_ruled_tables(lines: list[TextLine], tables: list) -> list[TextLine]:
    """The lines with those inside the cells of each ruled table (ruled_tables.RuledTable, in the lines' `box`
    pixels) replaced by one RuledTableLine. Cells are read row by row (a row starts at a rule), left to right, each
    top to bottom."""
    result = list(lines)
    for table in tables:
        by_cell: dict[int, list[TextLine]] = {}
        for line in result:
            if isinstance(line, RuledTableLine):
                continue  # tables do not nest
            cell = table.cell_of(line.box)
            if cell is not None:
                by_cell.setdefault(cell, []).append(line)
        # A frame holding a column of running text (the pages of a 4-up transcript, boxed panels) is a layout, not
        # a table: its panels are read as columns are, not row by row.
        if not by_cell or max(len(members) for members in by_cell.values()) > MAX_CELL_LINES:
            continue
        height = median(line.height for members in by_cell.values() for line in members)
        lefts = _column_lefts(table.cells, height)
        header = _header_row(result, table, lefts, height)
        taken = {id(line) for members in by_cell.values() for line in members}
        taken |= {id(line) for line in header[0]} if header else set()
        members = [line for line in result if id(line) in taken]
        result = [line for line in result if id(line) not in taken and not _is_rule(line, table)]
        result.append(_ruled_table(table.cells, by_cell, members, height, lefts, header))
    return result


def _column_lefts(cells: list[Box], height: float) -> list[float]:
    """A ruled table's columns: the left edges of its cells, those within half a line of the next taken as one."""
    lefts: list[float] = []
    previous = None
    for left in sorted(cell[0] for cell in cells):
        if previous is None or left - previous >= height / 2:
            lefts.append(left)
        previous = left
    return lefts


def _header_row(lines: list[TextLine], table, lefts: list[float], height: float
                ) -> tuple[list[TextLine], list[str]] | None:
    """A header row that the table's grid holds in no cell (shaded in a halftone, whose dots are ink to the grid):
    lines inside its frame above its first row of cells, each of their boxes under one column, in two columns or
    more. Its lines, and its cell texts under the table's columns; None where there is none."""
    first_row = min(cell[1] for cell in table.cells)
    above = [line for line in lines if not isinstance(line, RuledTableLine) and table.encloses(line.box)
             and table.cell_of(line.box) is None and (line.box[1] + line.box[3]) / 2 < first_row
             and any(char.isalnum() for char in line.text)]
    by_column: dict[int, list[TextLine]] = {}
    for part in (part for line in above for part in line.parts):
        column = max([0] + [index for index, left in enumerate(lefts) if left <= (part.box[0] + part.box[2]) / 2])
        if any(part.box[0] + height / 2 < left < part.box[2] - height / 2 for left in lefts):
            return None  # it runs across a column's edge: a title over the table, not a header
        by_column.setdefault(column, []).append(part)
    if len(by_column) < 2:
        return None
    return above, [join_lines([line.text for line in _visual_lines(by_column.get(index, []))])
                   for index in range(len(lefts))]


def _is_rule(line: TextLine, table) -> bool:
    """Whether a line is a piece of the table's rules read as text: in no cell, inside the table, without a letter
    or a digit (a stretch of dotted rule comes back as '…' or '....')."""
    return (table.encloses(line.box) and table.cell_of(line.box) is None
            and not any(char.isalnum() for char in line.text))


def _ruled_table(cells: list[Box], by_cell: dict[int, list[TextLine]], members: list[TextLine], height: float,
                 lefts: list[float], header: tuple[list[TextLine], list[str]] | None) -> RuledTableLine:
    """One table's RuledTableLine: `height` is its cells' median line height, `lefts` its columns (_column_lefts),
    `header` a header row its grid holds in no cell (_header_row)."""
    # A row is the cells that overlap its top-most cell by half their height or more (on a page scanned askew,
    # the tops of one row's cells differ); a cell spanning several rows belongs to the first.
    def same_row(a: Box, b: Box) -> bool:
        return min(a[3], b[3]) - max(a[1], b[1]) > 0.5 * min(a[3] - a[1], b[3] - b[1])

    order = sorted(range(len(cells)), key=lambda index: (cells[index][1], cells[index][0]))
    table_rows: list[list[int]] = []
    for index in order:
        if table_rows and same_row(cells[table_rows[-1][0]], cells[index]):
            table_rows[-1].append(index)
        else:
            table_rows.append([index])
    text_rows, grid = (_visual_lines(header[0]), [header[1]]) if header else ([], [])
    for row in table_rows:
        row_cells = [""] * len(lefts)
        pending: list[TextLine] = []  # one-line cells of this row, side by side
        for index in sorted(row, key=lambda item: cells[item][0]):
            cell_lines = _visual_lines(by_cell.get(index, []))
            if not cell_lines:
                continue
            column = max(position for position, left in enumerate(lefts) if left <= cells[index][0] + height / 2)
            row_cells[column] = join_lines([line.text for line in cell_lines])
            if len(cell_lines) == 1:
                pending += cell_lines[0].parts
                continue
            if pending:
                text_rows.append(join_row(pending))
                pending = []
            text_rows += cell_lines
        if pending:
            text_rows.append(join_row(pending))
        if any(row_cells):
            grid.append(row_cells)
    box = union([line.box for line in members])
    page_box = union([line.pixels for line in members]) if any(line.page_box for line in members) else None
    text = join_lines([line.text for line in text_rows])
    return RuledTableLine(text, box, confidence(members), page_box, rows=text_rows, cells=grid)


@dataclass
class Paragraph:
    """Consecutive lines of one column that belong together; `level` > 0 marks a heading; `cells`, where set,
    holds a table's rows, each a list of its cells' text."""

    lines: list[TextLine] = field(default_factory=list)
    level: int = 0
    cells: list[list[str]] | None = None

    @property
    def box(self) -> Box:
        return union([line.box for line in self.lines])

    @property
    def pixels(self) -> Box:
        return union([line.pixels for line in self.lines])


# How far a box's sides are moved in, in line heights, when looking for the gap between columns.
BOX_INSET_HEIGHTS = 0.25
# A text column is at least this many line heights wide (about a dozen characters).
MIN_COLUMN_HEIGHTS = 6


def _inset(line: TextLine) -> float:
    if isinstance(line, RuledTableLine):
        return 0.0  # its box is its rules, not padding around ink
    return min(BOX_INSET_HEIGHTS * line.height, (line.box[2] - line.box[0]) / 4)


def _split_at(lines: list[TextLine], x: float) -> tuple[list[TextLine], list[TextLine]]:
    """The lines whose middle is left of `x`, and the others."""
    left = [line for line in lines if (line.box[0] + line.box[2]) / 2 < x]
    return left, [line for line in lines if (line.box[0] + line.box[2]) / 2 >= x]


def _column_gutter(lines: list[TextLine], any_width: bool = False) -> float | None:
    """The x of the widest empty vertical band between lines that is narrower than the columns it separates, or
    with `any_width`, of the widest one (a table's columns are narrow and far apart)."""
    # Boxes are padded around their ink; a column's ragged or justified edge moves by a few pixels from line to
    # line. Inset, they leave a gutter narrower than a line height open.
    if len(lines) < 2:
        return None
    intervals = sorted((line.box[0] + _inset(line), line.box[2] - _inset(line)) for line in lines)
    min_column = MIN_COLUMN_HEIGHTS * median(line.height for line in lines)
    best, covered_to = None, intervals[0][1]
    left_edge = intervals[0][0]
    right_edge = max(end for _, end in intervals)
    for start, end in intervals[1:]:
        if start > covered_to:
            gap = start - covered_to
            left_width, right_width = covered_to - left_edge, right_edge - start
            # A gutter between text columns is narrower than either column, and columns hold words,
            # not a price: a gap before a short right-hand part is a receipt or table row, read across.
            narrowest = min(left_width, right_width)
            fits = any_width or (gap < narrowest and narrowest >= min_column)
            if fits and (best is None or gap > best[0]):
                best = (gap, (covered_to + start) / 2)
        covered_to = max(covered_to, end)
    return None if best is None else best[1]


def _rows(lines: list[TextLine]) -> list[list[TextLine]]:
    """Bands of lines separated by horizontal whitespace, top to bottom."""
    ordered = sorted(lines, key=lambda line: line.box[1])
    rows, bottom = [], None
    for line in ordered:
        if bottom is not None and line.box[1] < bottom:
            rows[-1].append(line)
            bottom = max(bottom, line.box[3])
        else:
            rows.append([line])
            bottom = line.box[3]
    return rows


# A line of running text holds at least this many characters (a Chinese character counts twice); table cells,
# labels and prices are shorter.
PROSE_CHARACTERS = 24


def _text_width(text: str) -> int:
    return sum(2 if _is_cjk(char) else 1 for char in text)


# Chinese boxes of one row closer than this many line heights are pieces of one printed line: the detector splits
# justified Chinese at its widened spaces into boxes that are each short. Table cells stand further apart, and
# Latin words are not spread that way (a directory's name and phone number stay two cells).
PIECE_GAP_HEIGHTS = 2.0


def _printed_lines(lines: list[TextLine]) -> list[list[TextLine]]:
    """Lines grouped into printed lines: Chinese boxes of one band of the page close enough side by side."""
    printed = []
    for band in _rows(lines):
        band = sorted(band, key=lambda line: line.box[0])
        printed.append([band[0]])
        for line in band[1:]:
            previous = printed[-1][-1]
            if _runs_on(previous.text, line.text) and line.box[0] - previous.box[2] < PIECE_GAP_HEIGHTS * max(line.height, previous.height):
                printed[-1].append(line)
            else:
                printed.append([line])
    return printed


def _is_prose(lines: list[TextLine]) -> bool:
    """Whether lines look like a column of running text: most of its printed lines long."""
    return median(sum(_text_width(line.text) for line in printed)
                  for printed in _printed_lines(lines)) >= PROSE_CHARACTERS


def _same_row(a: TextLine, b: TextLine) -> bool:
    """Two boxes on one printed row: their middles within a third of the smaller height."""
    return abs((a.box[1] + a.box[3]) - (b.box[1] + b.box[3])) / 2 < min(a.height, b.height) / 3


# Beside a column of running text, this share of the other side's lines must sit on its rows for the two to be a
# table (labels or figures beside their text), once that side holds SIDEBAR_LINES or more. A sidebar of short lines
# beside running text lines up with it by chance, row for row in runs: on the dev set's analyst report 57-73% of
# its 70-80 lines did, by scale and scan. Fewer lines say little: two boxes of one printed line, cut at a wide
# space, and the short line under them pair 2 of 3.
PAIRED_BESIDE_PROSE = 0.9
SIDEBAR_LINES = 10
# Where both sides hold SIDEBAR_LINES or more, one of them must have this share of its lines on the other's rows: in
# a table one side's cells (the figures beside their labels) nearly all have a partner, 80-100% on the dev set. A
# report's text and tables beside its sidebar paired 46% and 56% by chance: half the boxes, a table by the old test.
PAIRED_ONE_SIDE = 0.7


def _paired(lines: list[TextLine], others: list[TextLine]) -> int:
    """How many of `lines` have a box of `others` on the same row."""
    return sum(1 for line in lines if any(_same_row(line, other) for other in others))


def _is_table(left: list[TextLine], right: list[TextLine]) -> bool:
    """Whether two sides of a gutter are the cells of rows (a table, a receipt) rather than two columns of text:
    they are not both running text, most boxes of the page part have a partner on the same row across it, most of
    one side's have, and beside running text nearly every line of a sidebar has one."""
    left_prose, right_prose = _is_prose(left), _is_prose(right)
    if left_prose and right_prose:
        return False
    paired_left, paired_right = _paired(left, right), _paired(right, left)
    if left_prose != right_prose:
        beside, paired = (right, paired_right) if left_prose else (left, paired_left)
        if len(beside) >= SIDEBAR_LINES and paired < PAIRED_BESIDE_PROSE * len(beside):
            return False
    if min(len(left), len(right)) >= SIDEBAR_LINES and max(
            paired_left / len(left), paired_right / len(right)) < PAIRED_ONE_SIDE:
        return False
    return paired_left + paired_right >= 0.5 * (len(left) + len(right))


def _opens_columns(row: list[TextLine], below: list[TextLine]) -> bool:
    """Whether a row with no gutter of its own is the first row of two columns: the gutter it shares with the row
    below cuts it in two. Its right-hand part alone is too narrow for a column (a paper's section heading beside
    the last line of a paragraph carried over, "符号。"), so alone it looks like one line across the page."""
    gutter = _column_gutter(row + below)
    return gutter is not None and any(line.box[2] <= gutter for line in row) and any(
        line.box[0] >= gutter for line in row)


def order_columns(lines: list[TextLine]) -> list[list[TextLine]]:
    """Split lines into columns in reading order (top to bottom, then left column before right); the rows of a
    table or receipt are kept whole, read left to right."""
    if not lines:
        return []
    gutter = _column_gutter(lines)
    split = _split_at(lines, gutter) if gutter is not None else None
    # One line alone beside the rest is no column (a slide's tagline at the end of its header bar, a running
    # header beside a heading): the bands below put it in its row.
    if split and min(len(side) for side in split) > 1:
        if not _is_table(*split):
            return order_columns(split[0]) + order_columns(split[1])
        return [TableLines(lines)]  # one block, whose visual lines are its rows
    # A gap too wide for a column gutter, with rows lining up across it: a table with narrow columns far apart.
    gap = _column_gutter(lines, any_width=True)
    if gap is not None and _is_table(*_split_at(lines, gap)):
        return [TableLines(lines)]
    # No gutter through the whole region, or one beside a single line: group consecutive bands that share a column
    # structure (a full-width title, then two columns, then a full-width footer) and cut each group again.
    groups: list[list[TextLine]] = []
    rows = _rows(lines)
    for index, row in enumerate(rows):
        if groups:
            merged = groups[-1] + row
            both_single = _column_gutter(groups[-1]) is None and _column_gutter(row) is None
            if both_single and index + 1 < len(rows) and _opens_columns(row, rows[index + 1]):
                both_single = False
            if both_single or _column_gutter(merged) is not None:
                groups[-1] = merged
                continue
        groups.append(list(row))
    if len(groups) == 1:
        return [groups[0]]
    return [column for group in groups for column in order_columns(group)]


# A page's header: at most HEADER_ROWS bands of lines at its top, above a blank band at least HEADER_GAP_HEIGHTS line
# heights high across the page (a running header, a masthead). Its footer: FOOTER_ROWS band at its foot, below a blank
# band at least FOOTER_GAP_HEIGHTS line heights high (a running footer, a page number). A table's note or a column's
# last lines stand under a gap too, but as more than one band; a slide's last bullet stands as far from the one
# above as every bullet does.
HEADER_ROWS = 3
HEADER_GAP_HEIGHTS = 1.5
FOOTER_ROWS = 1
FOOTER_GAP_HEIGHTS = 3.0


def order_page(lines: list[TextLine]) -> list[list[TextLine]]:
    """order_columns over a whole page; where the page is cut into columns, its header is read first and its footer
    last. A gutter that runs down the whole page also runs through a header whose parts stand at its two ends (a
    page number at the left, the journal's name at the right; a logo, and the date under the firm's name): cut
    there, the header's right part was read after the whole left column. A footer at the foot of the left column
    ("76 Goldman Sachs 2023 Form 10-K") was read between the columns."""
    if len(lines) < 2 or _column_gutter(lines) is None:
        return order_columns(lines)
    rows = _rows(lines)
    height = median(line.height for line in lines)

    def blank_above(index: int, heights: float) -> bool:
        return min(line.box[1] for line in rows[index]) - max(
            line.box[3] for row in rows[:index] for line in row) >= heights * height

    head = next((index for index in range(1, min(HEADER_ROWS, len(rows) - 1) + 1)
                 if blank_above(index, HEADER_GAP_HEIGHTS)), 0)
    foot = next((index for index in range(len(rows) - 1, max(len(rows) - FOOTER_ROWS, head + 1) - 1, -1)
                 if blank_above(index, FOOTER_GAP_HEIGHTS)), len(rows))
    parts = (rows[:head], rows[head:foot], rows[foot:])
    return [column for part in parts if part for column in order_columns([line for row in part for line in row])]


# A table needs this many rows of two boxes or more before a column holding a box in one row only is merged away.
LONE_COLUMN_ROWS = 3


def _table_cells(rows: list[TextLine]) -> list[list[str]] | None:
    """A table's rows (its visual lines) as cells: columns are the gutters between the boxes of its rows of two
    boxes or more, each box goes to the column its middle is in, boxes of one row and column are joined. None where
    the table has one column only.

    A line alone in its row spans columns: a title above the table or a note under it (which `paragraphs` keeps out
    of the grid) would close the gutters it crosses, and an item's name on a receipt belongs to the column it
    starts in. A column that holds a box in one row only (the "$" of one row of figures set "$ 9.76") is no column:
    its box joins the nearer box beside it."""
    many = [row for row in rows if len(row.parts) >= 2]
    edges = sorted(_gutters([part for row in many for part in row.parts]))
    while edges and len(many) >= LONE_COLUMN_ROWS:
        placed = [_by_column(row, edges) for row in rows]
        filled = [sum(1 for row in placed if row[column]) for column in range(len(edges) + 1)]
        lone = next((column for column, count in enumerate(filled) if count == 1), None)
        if lone is None:
            break
        row = next(row for row in placed if row[lone])
        left = [part.box[2] for column in row[:lone] for part in column]
        right = [part.box[0] for column in row[lone + 1:] for part in column]
        box = union([part.box for part in row[lone]])
        nearer_left = bool(left) and (not right or box[0] - max(left) <= min(right) - box[2])
        del edges[lone - 1 if nearer_left or lone == len(edges) else lone]
    if not edges:
        return None
    return [[" ".join(part.text for part in column) for column in _by_column(row, edges)] for row in rows]


def _by_column(row: TextLine, edges: list[float]) -> list[list[TextLine]]:
    """A row's boxes in the columns between `edges`: a box of a row of several by its middle, the box of a row of
    one (a line across the table) by where it starts."""
    columns: list[list[TextLine]] = [[] for _ in range(len(edges) + 1)]
    for part in row.parts:
        at = (part.box[0] + part.box[2]) / 2 if len(row.parts) >= 2 else part.box[0]
        columns[sum(1 for edge in edges if at >= edge)].append(part)
    return columns


def _gutters(lines: list[TextLine]) -> list[float]:
    """Every gutter of a region, found by cutting at the widest one and then inside each side."""
    gutter = _column_gutter(lines, any_width=True)
    if gutter is None:
        return []
    left, right = _split_at(lines, gutter)
    return _gutters(left) + [gutter] + _gutters(right)


def join_lines(texts: list[str], runs_on: Callable[[str, str], bool] | None = None) -> str:
    """Lines run together: a space between them, none where `runs_on` says the two run on (by default between two
    Chinese characters, _runs_on)."""
    runs_on = runs_on or _runs_on
    text = ""
    for line in texts:
        if text and line and not runs_on(text, line):
            text += " "
        text += line
    return text


# Full-width punctuation holds its own blank: the detector often ends a box of Chinese at one ("条件，" then
# "实施轨道"), and a space put between the boxes there would be read as one the page does not print.
SPACED_BY_ITSELF = "，。、；：！？）」』》”"
OPENING = "（「『《“"


def _box_runs_on(before: str, after: str) -> bool:
    """Whether two boxes of one printed line join without a space: where full-width punctuation stands between
    Chinese characters at the join (a space between two Chinese words stays: a table's cells)."""
    if len(before) > 1 and before[-1] in SPACED_BY_ITSELF and _is_cjk(before[-2]):
        return _is_cjk(after[:1] or " ") or after[:1] in OPENING
    return bool(after[:1] and after[0] in SPACED_BY_ITSELF + OPENING and _is_cjk(before[-1:] or " "))


def join_row(parts: list[TextLine]) -> TextLine:
    """Merge boxes that sit on one visual line into one line, left to right."""
    parts = sorted(parts, key=lambda line: line.box[0])
    text = join_lines([part.text for part in parts], _box_runs_on)
    page_box = union([part.pixels for part in parts]) if any(part.page_box for part in parts) else None
    return TextLine(text, union([part.box for part in parts]), confidence(parts), page_box, parts)


def confidence(lines: list[TextLine]) -> float:
    """The recogniser's confidence over lines: the mean of theirs, weighted by their characters."""
    characters = sum(len(line.text) for line in lines)
    if not characters:
        return 0.0
    return sum(len(line.text) * line.score for line in lines) / characters


def _vertical_overlap(a: TextLine, b: TextLine) -> float:
    """How much two boxes overlap vertically, as a share of the lower one's height."""
    return (min(a.box[3], b.box[3]) - max(a.box[1], b.box[1])) / max(1e-6, min(a.height, b.height))


def _fits_row(line: TextLine, row: list[TextLine]) -> float:
    """How well a box continues a visual line: its vertical overlap with the line's horizontally nearest box, or 0
    where it would overlap a box of the line side by side (two boxes of one printed line never do). Overlapping by
    less than half the narrower box is no overlap: the detector pads a short box ("$" before a figure) into the ink
    of the figure beside it, and placing the box by its ink keeps that ink."""
    for other in row:
        overlap = min(line.box[2], other.box[2]) - max(line.box[0], other.box[0])
        narrower = min(line.box[2] - line.box[0], other.box[2] - other.box[0])
        if overlap > max(0.3 * line.height, 0.5 * narrower):
            return 0.0
    nearest = min(row, key=lambda other: max(other.box[0] - line.box[2], line.box[0] - other.box[2]))
    return _vertical_overlap(line, nearest)


def _visual_lines(column: list[TextLine]) -> list[TextLine]:
    """Lines of one column top to bottom: boxes side by side on one printed line joined, left to right. A box joins
    the line whose nearest box it overlaps by half its height, so a slightly curved row stays one line while the
    rows above and below it, which it also touches, stay apart."""
    rows: list[list[TextLine]] = []
    for line in sorted(column, key=lambda item: (item.box[1] + item.box[3]) / 2):
        open_rows = [row for row in rows[-4:] if max(other.box[3] for other in row) > line.box[1]]
        fit, best = max(((_fits_row(line, row), row) for row in open_rows), key=lambda pair: pair[0],
                        default=(0.0, None))
        if best is not None and fit > 0.5:
            best.append(line)
        else:
            rows.append([line])
    return sorted((join_row(parts) for parts in rows), key=lambda line: (line.box[1] + line.box[3]) / 2)


def _column_lines(column: list[TextLine]) -> list[TextLine]:
    """A column's visual lines top to bottom, each ruled table among them a block of its own."""
    tables = [line for line in column if isinstance(line, RuledTableLine)]
    lines = _visual_lines([line for line in column if not isinstance(line, RuledTableLine)])
    return sorted(lines + tables, key=lambda line: (line.box[1] + line.box[3]) / 2)


def paragraphs(lines: list[TextLine]) -> list[Paragraph]:
    """Paragraphs in reading order; a gap well above the usual line pitch starts a new one. A table's rows that
    have two or more cells make one paragraph with `cells`."""
    found_columns = order_page(lines)
    columns = [_column_lines(column) for column in found_columns]
    all_lines = [line for column in columns for line in column]
    if not all_lines:
        return []
    body_height = median(line.height for line in all_lines)
    result: list[Paragraph] = []
    for found, column in zip(found_columns, columns):
        if any(isinstance(line, RuledTableLine) for line in column):
            result += _around_ruled_tables(column, body_height)
            continue
        cells = _table_cells(column) if isinstance(found, TableLines) else None
        rows = [index for index, row in enumerate(cells or []) if sum(1 for cell in row if cell) >= 2]
        if len(rows) < 2:
            result += _column_paragraphs(column, body_height)
            continue
        # A title above the table or a note under it, alone in its row, is not part of the grid.
        first, last = rows[0], rows[-1] + 1
        result += _column_paragraphs(column[:first], body_height)
        result.append(Paragraph(column[first:last], cells=cells[first:last]))
        result += _column_paragraphs(column[last:], body_height)
    return result


def _around_ruled_tables(column: list[TextLine], body_height: float) -> list[Paragraph]:
    """A column holding ruled tables: each table one paragraph with its cells, the lines between as usual."""
    result: list[Paragraph] = []
    start = 0
    for index, line in enumerate(column + [None]):
        if line is None or isinstance(line, RuledTableLine):
            result += _column_paragraphs(column[start:index], body_height)
            if line is not None:
                result.append(Paragraph(line.rows, cells=line.cells if len(line.cells) >= 2 else None))
            start = index + 1
    return result


def _column_paragraphs(column: list[TextLine], body_height: float) -> list[Paragraph]:
    """One column's lines, top to bottom, as paragraphs and headings."""
    result: list[Paragraph] = []
    # The line pitch inside a paragraph is the common small one; the lower quartile finds it
    # even when most paragraphs are only two lines long (half the pitches are paragraph breaks).
    pitches = sorted(b.box[1] - a.box[1] for a, b in zip(column, column[1:]) if b.box[1] > a.box[1])
    pitch = pitches[len(pitches) // 4] if pitches else body_height * 1.5
    for index, line in enumerate(column):
        level = heading_level(line, body_height)
        previous = column[index - 1] if index else None
        starts_new = (
            previous is None
            or level > 0
            or result[-1].level > 0
            or line.box[1] - previous.box[1] > 1.5 * pitch
        )
        if starts_new:
            result.append(Paragraph([line], level))
        else:
            result[-1].lines.append(line)
    return result


def heading_level(line: TextLine, body_height: float) -> int:
    """1 or 2 for a line set clearly larger than the body text, else 0."""
    ratio = line.height / body_height if body_height else 1.0
    if ratio >= 1.7:
        return 1
    if ratio >= 1.35:
        return 2
    return 0


def _is_cjk(char: str) -> bool:
    return "\u2e80" <= char <= "\u9fff" or "\uf900" <= char <= "\ufaff" or "\uff00" <= char <= "\uffef" or "\u3000" <= char <= "\u303f"


def _runs_on(before: str, after: str) -> bool:
    """Whether two pieces of text join without a space: Chinese runs on from one character to the next."""
    return bool(before and after) and _is_cjk(before[-1]) and _is_cjk(after[0])


def join_paragraph(paragraph: Paragraph) -> str:
    """One paragraph as flowing text: wrapped lines joined (no space between Chinese characters),
    but a line that stops well short of the paragraph's width ended on purpose and keeps its break."""
    text, previous = "", None
    width = paragraph.box[2] - paragraph.box[0]
    for line in paragraph.lines:
        if previous is not None:
            if previous.box[2] - previous.box[0] < 0.6 * width:
                text += "\n"
            elif not _runs_on(text, line.text):
                text += " "
        text += line.text
        previous = line
    return text


def to_plain_text(paragraphs_: list[Paragraph]) -> str:
    """Lines as printed, one per line, with a blank line between paragraphs."""
    return "\n\n".join("\n".join(line.text for line in paragraph.lines) for paragraph in paragraphs_)


def to_markdown(paragraphs_: list[Paragraph]) -> str:
    """Headings as `#`/`##`, paragraphs as flowing text separated by blank lines."""
    blocks = []
    for paragraph in paragraphs_:
        text = join_paragraph(paragraph)
        if paragraph.cells:
            blocks.append(markdown_table(paragraph.cells))
        elif paragraph.level:
            blocks.append("#" * paragraph.level + " " + text)
        else:
            # A paragraph that starts like markdown syntax would change meaning when rendered.
            blocks.append("\\" + text if text[:1] in "#>*-+|" else text)
    return "\n\n".join(blocks)


def markdown_table(rows: list[list[str]]) -> str:
    """Rows of cells as a markdown table, the first row as its header."""
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"
    return "\n".join([line(rows[0]), "|" + "---|" * len(rows[0])] + [line(row) for row in rows[1:]])


def to_blocks(paragraphs_: list[Paragraph]) -> list[dict]:
    """Each paragraph as a block in reading order: heading or paragraph, its text, its box in pixels, and the
    recogniser's confidence in it."""
    return [{"type": "table" if paragraph.cells else "heading" if paragraph.level else "paragraph",
             "text": join_paragraph(paragraph),
             "box": [round(value) for value in paragraph.pixels], "confidence": round(confidence(paragraph.lines), 4)}
            for paragraph in paragraphs_]
