"""DeepSeek-OCR's grounding output turned into blocks with pixel boxes, on outputs written the way the model writes."""
from __future__ import annotations

from deepseek_ocr_api.engines.grounding import parse_grounding

MARKDOWN_PAGE = """<|ref|>title<|/ref|><|det|>[[62, 41, 934, 83]]<|/det|>
# Annual Report

<|ref|>text<|/ref|><|det|>[[62, 100, 934, 300]]<|/det|>
Revenue grew in every quarter.

<|ref|>image<|/ref|><|det|>[[0, 400, 499, 600], [500, 400, 999, 600]]<|/det|>

<|ref|>table<|/ref|><|det|>[[62, 700, 934, 900]]<|/det|>
<table><tr><td>Q1</td><td>12</td></tr></table>"""


def test_markdown_page_gives_clean_text_and_blocks_in_pixels_of_a_non_square_page():
    text, blocks = parse_grounding(MARKDOWN_PAGE, 1998, 999)  # twice as wide as high
    assert text == ("# Annual Report\n\nRevenue grew in every quarter.\n\n"
                    "<table><tr><td>Q1</td><td>12</td></tr></table>")
    assert [block["type"] for block in blocks] == ["title", "text", "image", "image", "table"]
    assert blocks[0] == {"type": "title", "text": "# Annual Report", "box": [124, 41, 1868, 83]}
    # Two boxes under one ref: two blocks, one per box, the x scale doubled and the y scale kept.
    assert blocks[2]["box"] == [0, 400, 998, 600] and blocks[3]["box"] == [1000, 400, 1998, 600]
    assert blocks[4]["text"].startswith("<table>")  # tables stay HTML


def test_tall_page_scales_y_more_than_x():
    _, blocks = parse_grounding("<|ref|>the total<|/ref|><|det|>[[100, 200, 300, 400]]<|/det|>", 999, 2997)
    assert blocks == [{"type": "the total", "text": "", "box": [100, 600, 300, 1200]}]


def test_truncated_output_drops_the_unfinished_tag():
    text, blocks = parse_grounding(MARKDOWN_PAGE + "\n<|ref|>text<|/ref|><|det|>[[62, 910, 93", 1000, 1000)
    assert "<|" not in text and text.endswith("</table>")
    assert len(blocks) == 5


def test_malformed_tags_lose_their_box_but_keep_the_text():
    text, blocks = parse_grounding("<|ref|>text<|/ref|><|det|>[[12, 30]]<|/det|>\nShort box.\n"
                                   "<|ref|>text<|/ref|>No det at all.\n<|det|>[[1,2,3,4]]<|/det|> stray", 100, 100)
    assert blocks == []
    assert text == "Short box.\nNo det at all.\n stray"
    assert "<|" not in text


def test_reversed_and_out_of_range_coordinates_are_ordered_and_clamped():
    _, blocks = parse_grounding("<|ref|>x<|/ref|><|det|>[[900, 1200, 100, -5]]<|/det|>", 999, 999)
    assert blocks[0]["box"] == [100, 0, 900, 999]


def test_plain_output_passes_through():
    assert parse_grounding("Free OCR text.\nSecond line.", 10, 10) == ("Free OCR text.\nSecond line.", [])
