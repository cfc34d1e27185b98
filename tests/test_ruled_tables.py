"""Ruled tables found in a page's pixels: a grid with text in its cells is one; a frame, rules between rows only,
or a grid that leaves the text beside it outside its cells is not."""
from __future__ import annotations

import time

import numpy as np
from PIL import Image, ImageDraw

from deepseek_ocr_api.engines.ruled_tables import find_ruled_tables
from tests.pages import ruled_table_page

LINE_HEIGHT = 24


def canvas() -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("L", (900, 600), 255)
    return image, ImageDraw.Draw(image)


def text_boxes(xs: list[int], ys: list[int], width: int = 80) -> list[tuple[float, float, float, float]]:
    """Where the detector would find a line of text: one box per (x, y), one line high."""
    return [(x, y, x + width, y + LINE_HEIGHT) for y in ys for x in xs]


def test_a_grid_with_text_in_its_cells_is_a_table_with_one_cell_per_field():
    page = ruled_table_page()
    gray = np.asarray(page.image.convert("L"))
    # One box per written line, as the detector finds them (the rows of the table start at y = 102).
    boxes = text_boxes([52, 202, 412], [120, 179, 238, 369, 428])
    tables = find_ruled_tables(gray, boxes)
    assert len(tables) == 1
    assert len(tables[0].cells) == 15  # 5 rows (a header and 4 releases) of 3 columns
    assert tables[0].cell_of(boxes[0]) != tables[0].cell_of(boxes[1])


def test_dotted_rules_close_cells_and_a_halftone_header_adds_no_rules():
    page = ruled_table_page(rule=(60, 60, 60), dotted=True)
    gray = np.asarray(page.image.convert("L"))
    boxes = text_boxes([52, 202, 412], [120, 179, 238, 369, 428])
    tables = find_ruled_tables(gray, boxes)
    assert len(tables) == 1
    # 4 releases of 3 columns. The shaded header is ink, not a cell, and no run of its dots reaches down through
    # the first row's text as a rule.
    assert len(tables[0].cells) == 12
    assert len({tables[0].cell_of(box) for box in boxes[3:]}) == 12


def test_speckled_noise_of_a_poor_scan_joins_into_no_rules():
    # One pixel in 16 starts a 2-pixel speck: joined along rows and columns as dotted rules are, the noise
    # would rule the cells across and the table would be lost.
    page = ruled_table_page()
    gray = np.asarray(page.image.convert("L")).copy()
    noise = np.random.default_rng(0).random(gray.shape) < 0.06
    gray[noise] = 0
    gray[:-1][noise[1:]] = 0
    boxes = text_boxes([52, 202, 412], [120, 179, 238, 369, 428])
    tables = find_ruled_tables(gray, boxes)
    assert [len(table.cells) for table in tables] == [15]


def test_a_frame_around_a_paragraph_is_not_a_table():
    image, draw = canvas()
    draw.rectangle((40, 40, 860, 300), outline=120, width=2)
    assert find_ruled_tables(np.asarray(image), text_boxes([60], range(60, 280, 30), width=700)) == []


def test_rules_between_rows_only_are_not_a_table():
    image, draw = canvas()
    for y in range(40, 400, 60):
        draw.line((40, y, 860, y), fill=120, width=2)
    assert find_ruled_tables(np.asarray(image), text_boxes([60, 400], range(55, 340, 60))) == []


def test_a_grid_that_leaves_the_text_beside_it_outside_its_cells_is_not_a_table():
    # Two ruled columns in the middle of a four-column list: the outer columns' text is in no cell, and reading
    # the ruled ones cell by cell would part each row from its neighbours.
    image, draw = canvas()
    for x in (250, 450, 650):
        draw.line((x, 40, x, 560), fill=120, width=2)
    for y in (40, 100, 560):
        draw.line((40, y, 860, y), fill=120, width=2)
    boxes = text_boxes([60, 270, 470, 670], range(120, 540, 40))
    assert find_ruled_tables(np.asarray(image), boxes) == []


def test_graph_paper_is_not_a_table_and_is_dismissed_quickly():
    image = Image.new("L", (3000, 3000), 255)
    draw = ImageDraw.Draw(image)
    for position in range(20, 3000, 40):  # 74 x 74 squares
        draw.line((position, 0, position, 2999), fill=150, width=1)
        draw.line((0, position, 2999, position), fill=150, width=1)
    started = time.monotonic()
    assert find_ruled_tables(np.asarray(image), text_boxes([100, 500], [100, 140], width=300)) == []
    assert time.monotonic() - started < 10
