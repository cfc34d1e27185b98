"""The geometry that shows the page classifier a page turned square: the skew of the detector's boxes, whichever way
up the page lies, and points of the square page taken back to the page as uploaded."""
from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image, ImageDraw

from deepseek_ocr_api.engines.orientation import line_skew, turned_square


def box(x: float, y: float, length: float, height: float, degrees: float) -> np.ndarray:
    """A line's box as the detector gives it (top-left, top-right, bottom-right, bottom-left), its long side
    `degrees` from the page's x axis (positive: falling to the right)."""
    along = np.array([math.cos(math.radians(degrees)), math.sin(math.radians(degrees))])
    down = np.array([-along[1], along[0]])
    corner = np.array([x, y])
    return np.array([corner, corner + length * along, corner + length * along + height * down,
                     corner + height * down], dtype=np.float32)


@pytest.mark.parametrize("turn", [0, 90, 180, 270])
def test_the_skew_of_a_page_is_found_whichever_way_up_it_lies(turn):
    lines = [box(100, 100 + 40 * row, 600, 30, 12.0 + turn) for row in range(5)]
    lines.append(box(100, 400, 40, 30, 40.0 + turn))  # a short word: no direction to go by
    assert line_skew(lines) == pytest.approx(12.0, abs=0.01)


def test_a_page_without_a_long_line_has_no_skew():
    assert line_skew([box(100, 100, 40, 30, 20.0)]) == 0.0


@pytest.mark.parametrize("skew", [12.0, -7.0])
def test_a_point_of_the_page_turned_square_goes_back_to_where_it_lies_on_the_page(skew):
    page = Image.new("RGB", (900, 500), "white")
    ImageDraw.Draw(page).rectangle((700, 100, 705, 105), fill="black")
    square, to_page = turned_square(page, skew)
    assert square.width > page.width and square.height > page.height  # grown to hold the turned corners
    ys, xs = np.nonzero(np.asarray(square.convert("L")) < 128)
    [(x, y)] = to_page([[xs.mean(), ys.mean()]])
    assert x == pytest.approx(702.5, abs=1.0) and y == pytest.approx(102.5, abs=1.0)
