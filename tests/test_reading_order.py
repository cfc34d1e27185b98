"""Reading order over line boxes: columns, rows of a receipt, paragraphs, headings."""
from __future__ import annotations

from deepseek_ocr_api.engines.reading_order import TextLine, paragraphs, to_markdown, to_plain_text


def line(text, x0, y0, x1, height=20):
    return TextLine(text, (x0, y0, x1, y0 + height))


def test_title_then_two_columns_then_footer():
    lines = [line("Title across the page", 40, 10, 1000, 40)]
    lines += [line(f"left {i}", 40, 80 + 30 * i, 480) for i in range(4)]
    lines += [line(f"right {i}", 560, 80 + 30 * i, 1000) for i in range(3)]
    lines += [line("Footer across the page", 40, 240, 1000)]
    order = [text for text in to_plain_text(paragraphs(lines)).split("\n") if text]
    assert order == ["Title across the page", "left 0", "left 1", "left 2", "left 3",
                     "right 0", "right 1", "right 2", "Footer across the page"]


def test_price_column_of_a_receipt_stays_on_its_row():
    lines = [line("Milk 2L", 20, 10, 100), line("2.49", 160, 11, 210), line("Bread", 20, 40, 80), line("3.10", 160, 40, 210)]
    assert to_plain_text(paragraphs(lines)) == "Milk 2L 2.49\nBread 3.10"


def test_markdown_heading_and_paragraph_breaks():
    lines = [line("Big Title", 40, 10, 400, 50)]
    lines += [line("first paragraph line one that is long", 40, 100, 900), line("and its end", 40, 130, 300)]
    lines += [line("second paragraph", 40, 220, 900)]
    assert to_markdown(paragraphs(lines)) == ("# Big Title\n\nfirst paragraph line one that is long and its end"
                                              "\n\nsecond paragraph")


def test_chinese_lines_join_without_spaces_in_markdown():
    lines = [line("光学字符识别把印刷文字的图片", 40, 10, 900), line("转换成文本。", 40, 40, 880)]
    assert to_markdown(paragraphs(lines)) == "光学字符识别把印刷文字的图片转换成文本。"
