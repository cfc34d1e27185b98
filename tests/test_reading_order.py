"""Reading order over line boxes: columns, rows of a receipt, paragraphs, headings."""
from __future__ import annotations

import math

from deepseek_ocr_api.engines.reading_order import (
    TextLine,
    drop_stray_chinese,
    lines_from_quads,
    paragraphs,
    to_blocks,
    to_markdown,
    to_plain_text,
)


def line(text, x0, y0, x1, height=20):
    return TextLine(text, (x0, y0, x1, y0 + height))


def two_columns(whose, top):
    """Two columns of ten lines of running text, side by side, from `top` down."""
    return tuple([line(f"{side} column, line {i} of {whose} running text", x0, top + 30 * i, x1) for i in range(10)]
                 for side, x0, x1 in (("left", 140, 780), ("right", 860, 1480)))


def lines_of(lines):
    return [text for text in to_plain_text(paragraphs(lines)).split("\n") if text]


def test_title_then_two_columns_then_footer():
    lines = [line("Title across the page", 40, 10, 1000, 40)]
    lines += [line(f"left column, line {i} of running text", 40, 80 + 30 * i, 480) for i in range(4)]
    lines += [line(f"right column, line {i} of running text", 560, 80 + 30 * i, 1000) for i in range(3)]
    lines += [line("Footer across the page", 40, 240, 1000)]
    assert lines_of(lines) == ["Title across the page"] + [f"left column, line {i} of running text" for i in range(4)] + [
        f"right column, line {i} of running text" for i in range(3)] + ["Footer across the page"]


def test_table_cells_are_read_row_by_row():
    # A directory: names, phones and e-mails in columns with wide gaps; each row's cells line up.
    people = [("Ann Lee, Managing Director", "(203) 569-4345", "alee@example.com"),
              ("Bo Chan, Research Associate", "(203) 569-4351", "bchan@example.com"),
              ("Cy Diaz, Vice President", "(203) 569-4355", "cdiaz@example.com")]
    lines = []
    for row, cells in enumerate(people):
        for x0, text in zip((40, 600, 900), cells):
            lines.append(line(text, x0, 100 + 40 * row, x0 + 12 * len(text)))
    assert lines_of(lines) == [" ".join(cells) for cells in people]


def test_rows_of_a_skewed_receipt_stay_whole():
    # A photographed receipt turned 4 degrees: the price on the right sits 28 px higher than its label.
    angle = math.radians(-4)
    rows = [("SUB TOTAL", "93.40"), ("DISCOUNT", "0.00"), ("TOTAL GST", "5.60"), ("ROUNDING", "0.00")]
    found = []
    for index, cells in enumerate(rows):
        for x0, text in zip((40, 400), cells):
            x1, y0, y1 = x0 + 20 * len(text), 100 + 30 * index, 124 + 30 * index
            corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
            quad = [(x * math.cos(angle) - y * math.sin(angle), x * math.sin(angle) + y * math.cos(angle))
                    for x, y in corners]
            found.append((text, quad, 0.9))
    lines = lines_from_quads(found)
    assert lines_of(lines) == [" ".join(cells) for cells in rows]
    # Boxes are still given in the page's own pixels.
    first = next(item for item in lines if item.text == "SUB TOTAL")
    assert first.pixels == (min(x for x, _ in found[0][1]), min(y for _, y in found[0][1]),
                            max(x for x, _ in found[0][1]), max(y for _, y in found[0][1]))
    assert [round(value) for value in first.pixels] in [block["box"] for block in to_blocks(paragraphs([first]))]


def test_price_column_of_a_receipt_stays_on_its_row():
    lines = [line("Milk 2L", 20, 10, 100), line("2.49", 160, 11, 210), line("Bread", 20, 40, 80), line("3.10", 160, 40, 210)]
    assert to_plain_text(paragraphs(lines)) == "Milk 2L 2.49\nBread 3.10"


def test_a_short_box_padded_into_the_figure_beside_it_stays_on_its_row():
    # A financial table at 300 dpi: the detector padded the "$" before 8,781 14 px into the "6" of 9,486 (seen on
    # a real report with the detector at 1760x2277), and that row came out in two: "$ 8,781 $ 7,750" first.
    rows = [[("Management and other fees", 1324, 1724, 2068), ("$ 9,486", 1972, 2106, 2064), ("$", 2092, 2146, 2064),
             ("8,781", 2159, 2247, 2064), ("$ 7,750", 2269, 2398, 2061)],
            [("Incentive fees", 1326, 1526, 2108), ("161", 2037, 2101, 2102), ("359", 2184, 2250, 2102),
             ("616", 2331, 2399, 2102)]]
    lines = [line(text, x0, y0, x1, 38) for row in rows for text, x0, x1, y0 in row]
    assert lines_of(lines) == ["Management and other fees $ 9,486 $ 8,781 $ 7,750", "Incentive fees 161 359 616"]


def test_boxes_of_a_chinese_line_split_at_full_width_punctuation_join_without_a_space():
    # The detector ends a box of justified Chinese at a full-width comma or full stop; the page prints no space.
    lines = [line("具备通车条件，", 40, 10, 400), line("实施轨道交通建设。", 430, 10, 800),
             line("版本号", 40, 60, 160), line("版本名", 400, 60, 520)]
    assert lines_of(lines) == ["具备通车条件，实施轨道交通建设。", "版本号 版本名"]


def test_markdown_heading_and_paragraph_breaks():
    lines = [line("Big Title", 40, 10, 400, 50)]
    lines += [line("first paragraph line one that is long", 40, 100, 900), line("and its end", 40, 130, 300)]
    lines += [line("second paragraph", 40, 220, 900)]
    assert to_markdown(paragraphs(lines)) == ("# Big Title\n\nfirst paragraph line one that is long and its end"
                                              "\n\nsecond paragraph")


def test_chinese_lines_join_without_spaces_in_markdown():
    lines = [line("光学字符识别把印刷文字的图片", 40, 10, 900), line("转换成文本。", 40, 40, 880)]
    assert to_markdown(paragraphs(lines)) == "光学字符识别把印刷文字的图片转换成文本。"


def test_a_misread_row_of_stars_on_an_english_page_loses_its_chinese_characters():
    lines = [TextLine("TOTAL 12.00", (0, 0, 200, 20), 0.98), TextLine("THANK YOU", (0, 30, 200, 50), 0.97),
             TextLine("家家家家 DINE IN 家家", (0, 60, 200, 80), 0.62), TextLine("冰水冰水", (0, 90, 200, 110), 0.6),
             TextLine("冰家家本（POS 6.63）冰水冰水", (0, 120, 200, 140), 0.6)]
    assert [line.text for line in drop_stray_chinese(lines)] == ["TOTAL 12.00", "THANK YOU", "DINE IN", "(POS 6.63)"]
    # On a Chinese page, or where the line was read with confidence, nothing is removed.
    chinese = [TextLine("光学字符识别", (0, 0, 200, 20), 0.98), TextLine("冰水 POS", (0, 30, 200, 50), 0.6)]
    assert drop_stray_chinese(chinese) == chinese
    sure = [TextLine("TOTAL 12.00", (0, 0, 200, 20), 0.98), TextLine("王小明 PAID", (0, 30, 200, 50), 0.95)]
    assert drop_stray_chinese(sure) == sure


def test_a_table_comes_out_as_a_markdown_table_between_its_title_and_its_note():
    people = [("Name", "Phone", "E-mail"), ("Ann Lee, Managing Director", "(203) 569-4345", "alee@example.com"),
              ("Bo Chan, Research Associate", "(203) 569-4351", "b|chan@example.com")]
    lines = [line("Our analysts", 40, 20, 400, 40), line("All in Stamford", 40, 300, 300)]
    for row, cells in enumerate(people):
        for x0, text in zip((40, 600, 900), cells):
            lines.append(line(text, x0, 100 + 40 * row, x0 + 12 * len(text)))
    found = paragraphs(lines)
    assert to_markdown(found) == "\n".join([
        "# Our analysts", "",
        "| Name | Phone | E-mail |", "|---|---|---|",
        "| Ann Lee, Managing Director | (203) 569-4345 | alee@example.com |",
        "| Bo Chan, Research Associate | (203) 569-4351 | b\\|chan@example.com |", "",
        "All in Stamford"])
    assert [block["type"] for block in to_blocks(found)] == ["heading", "table", "paragraph"]
    # Plain text keeps one printed row per line.
    assert lines_of(lines)[1:4] == [" ".join(cells) for cells in people]


def test_frames_holding_columns_of_text_are_read_as_columns_not_as_a_table():
    # A 4-up transcript: four framed pages in a 2 x 2 grid, each a column of 20 lines. Page order runs down the
    # left column, then the right one; read as a table's rows it would go top left, top right, bottom left.
    from deepseek_ocr_api.engines.reading_order import take_ruled_tables
    from deepseek_ocr_api.engines.ruled_tables import RuledTable

    frames = [(0, 0, 500, 700), (500, 0, 1000, 700), (0, 700, 500, 1400), (500, 700, 1000, 1400)]
    lines = [TextLine(f"page {page} line {row} of the testimony", (x0 + 20, y0 + 20 + 30 * row, x0 + 460, y0 + 44 + 30 * row))
             for page, (x0, y0, _, _) in zip((1, 3, 2, 4), frames) for row in range(20)]
    text = to_plain_text(paragraphs(take_ruled_tables(lines, [RuledTable((0, 0, 1000, 1400), frames)])))
    firsts = [line.split(" line")[0] for line in text.splitlines() if " line 0 " in line]
    assert firsts == ["page 1", "page 2", "page 3", "page 4"]


def test_a_sidebar_beside_running_text_is_a_column_even_where_its_rows_line_up_with_the_text():
    # An analyst report: key figures down the left, the report's text on the right, at the same line pitch. Ten
    # of the sidebar's fourteen lines sit on rows of the text by chance; read as a table, each would be glued to
    # a line of the text.
    text = [line(f"line {i} of the report's running text, which goes on", 600, 100 + 30 * i, 1100) for i in range(20)]
    sidebar = [line(f"Figure {i}: ${i}.50", 40, 100 + 30 * i, 420) for i in range(10)]
    sidebar += [line(f"Figure {i}: ${i}.50", 40, 115 + 30 * i, 420) for i in range(12, 16)]  # between rows
    assert lines_of(sidebar + text) == [item.text for item in sidebar + text]
    # Labels each beside their line of text are a table's rows, read across.
    labels = [line(f"Figure {i}: ${i}.50", 40, 100 + 30 * i, 420) for i in range(14)]
    assert lines_of(labels + text)[:14] == [f"{label.text} {row.text}" for label, row in zip(labels, text)]
    # A printed line cut in two at a wide space, with a short line under it, stays one row: two short lines are
    # no sidebar.
    cut = [line("driven mainly by", 40, 100, 300), line("Fosterville mine.", 40, 130, 300),
           line("increased production/reserves on higher grades at the flagship", 330, 100, 1100)]
    assert lines_of(cut) == ["driven mainly by increased production/reserves on higher grades at the flagship",
                             "Fosterville mine."]


def test_a_report_and_its_sidebar_are_columns_where_only_half_their_lines_meet_on_rows():
    # An analyst report's left part holds text and a table of figures, its right part a sidebar, both at the same
    # line pitch: neither side is running text. Twelve rows line up by chance, half the boxes on both sides, and
    # read as a table each line of the sidebar would be glued to a line of the report.
    report = [line(f"line {i} of the report's running text, which goes on", 40, 100 + 30 * i, 640) for i in range(10)]
    report += [line(f"Revenue {i}: {i}15.9", 40, 100 + 30 * i, 400) for i in range(10, 22)]
    sidebar = [line(f"Key figure {i}", 700, 100 + 30 * i, 1000) for i in range(12)]
    sidebar += [line(f"Key figure {i}", 700, 115 + 30 * i, 1000) for i in range(12, 20)]  # between rows
    assert lines_of(report + sidebar) == [item.text for item in report + sidebar]
    # A table whose label side has headings with no figure beside them: nearly every figure has its label.
    labels = [line(f"Revenue {i} (US$ m)", 40, 100 + 30 * i, 400) for i in range(14)]
    figures = [line(f"{i}15.9", 700, 100 + 30 * i, 800) for i in range(14) if i % 4]
    assert lines_of(labels + figures)[1] == "Revenue 1 (US$ m) 115.9"


def test_a_tagline_alone_at_the_end_of_a_slides_header_bar_is_read_in_its_row_not_after_the_slide():
    # A blank gap runs from the tagline down the whole slide, beside the title and the bullets: one line is no
    # column, so the tagline is read with the header bar, not after the last bullet.
    header = [line("Cloud Community | DevOps Platform", 40, 20, 420), line("Work Like Alibaba", 1600, 20, 1950)]
    title = [line("Test data centre: managing parameters", 500, 120, 1500, 40)]
    bullets = [line(f"bullet {i}: parameters may be grouped and run in order", 280, 250 + 50 * i, 1250)
               for i in range(6)]
    assert lines_of(header + title + bullets) == [
        "Cloud Community | DevOps Platform Work Like Alibaba", title[0].text] + [item.text for item in bullets]
    # Two lines beside the rest are a column still (at the top, above a blank band, they would be the slide's
    # header: test_a_running_header_split_by_the_gutter_is_read_before_the_columns).
    side = [line("Work Like Alibaba", 1600, 250, 1950), line("and nothing else", 1600, 300, 1950)]
    assert lines_of(header[:1] + side + title + bullets)[-2:] == [item.text for item in side]


def test_a_running_header_split_by_the_gutter_is_read_before_the_columns():
    # The page number at the left end, the journal's name at the right: the gutter between the columns runs down
    # through the header too. Cut there, the journal's name was read after the whole left column.
    header = [line("4", 140, 100, 160), line("J. Comput. Sci. & Technol., January 2018", 1000, 100, 1480)]
    left, right = two_columns("the paper's", top=200)
    assert lines_of(header + left + right) == ["4 J. Comput. Sci. & Technol., January 2018"] + [
        item.text for item in left + right]
    # Lines at the top with no blank band under them are the columns' first lines, not a header.
    first = [line("1 Introduction", 140, 170, 700), line("carried over", 860, 170, 1000)]
    found = lines_of(first + left + right)
    assert found == [first[0].text] + [item.text for item in left] + [first[1].text] + [item.text for item in right]


def test_a_running_footer_under_the_left_column_is_read_after_both_columns():
    # An annual report's footer ("76 Goldman Sachs 2023 Form 10-K") stands at the foot of the page under the left
    # column only: the gutter runs down through it, and it was read between the columns.
    left, right = two_columns("the report's", top=200)
    footer = line("76 Goldman Sachs 2023 Form 10-K", 140, 560, 560)
    assert lines_of(left + right + [footer]) == [item.text for item in left + right] + [footer.text]
    # A note of three lines under a table at the foot of the left column, below a gap, is the left column's end.
    note = [line(f"Note: line {i} of what the table's abbreviations stand for", 140, 560 + 30 * i, 780)
            for i in range(3)]
    assert lines_of(left + right + note) == [item.text for item in left + note + right]


def test_a_drop_cap_the_detector_found_as_a_box_of_its_own_joins_its_line():
    # A newspaper's "I", four body lines tall, found by the detector (the recogniser only 66% sure of it). As a box
    # of its own it was joined to the first line, which then stood as tall as the cap: read after the line below
    # it, and as a heading in markdown.
    import numpy as np

    from deepseek_ocr_api.engines.drop_caps import read_drop_caps

    cap = TextLine("I", (64, 89, 103, 168), 0.66)
    body = [line("LIKE walking down the", 102, 92, 237, 17), line("street with a watch that", 101, 107, 243, 17),
            line("may not look special, but it", 101, 121, 263, 17), line("is special—it has that age", 101, 136, 251),
            line("and originality to it,” said", 101, 151, 254, 17), line("Jeffrey Binstock, 62, a watch", 60, 167, 258, 17),
            line("lover and former media exec in New York.", 60, 183, 237, 17)]
    byline = line("By Charlie Teasdale", 62, 60, 173, 17)
    lines = read_drop_caps(np.full((260, 300), 255, dtype=np.uint8), [byline, cap] + body,
                           lambda crops: [("", 0.0)] * len(crops))
    layout = paragraphs(lines)
    assert to_plain_text(layout).split("\n") == [byline.text, "", "ILIKE walking down the"] + [
        item.text for item in body[1:]]
    assert not any(text.startswith("#") for text in to_markdown(layout).split("\n"))


def test_a_heading_atop_the_left_column_is_not_glued_to_the_line_carried_over_at_the_top_of_the_right_one():
    # A paper's page: running header, then two columns. The left one opens with a section heading; the right one
    # with the last, short line of a paragraph carried over from the previous page's column. That row alone has no
    # gutter (the short line is no column), but the rows below cut it at theirs.
    header = [line("2", 160, 200, 180), line("Journal of Computers", 660, 200, 1000), line("2019", 1400, 200, 1480)]
    heading, carried = line("1 Introduction", 140, 280, 700), line("symbols.", 860, 280, 940)
    left, right = two_columns("the paper's", top=320)
    found = lines_of(header + [heading, carried] + left + right)
    assert found == ["2 Journal of Computers 2019", heading.text] + [item.text for item in left] + [
        carried.text] + [item.text for item in right]


def test_a_stretch_of_dotted_rule_read_as_text_is_dropped_from_its_table():
    # The detector finds a stretch of a dotted rule between cells and reads it as '…'; it is rule, not text.
    from deepseek_ocr_api.engines.reading_order import take_ruled_tables
    from deepseek_ocr_api.engines.ruled_tables import RuledTable

    cells = [(0, 0, 300, 40), (310, 0, 600, 40), (0, 50, 300, 90), (310, 50, 600, 90)]
    lines = [line("Name", 10, 10, 100), line("Phone", 320, 10, 420), line("Ann Lee", 10, 60, 120),
             line("569-4345", 320, 60, 440), line("…", 300, 52, 310), line("Total 2", 10, 120, 120)]
    text = to_plain_text(paragraphs(take_ruled_tables(lines, [RuledTable((0, 0, 600, 90), cells)])))
    assert text.split("\n") == ["Name Phone", "Ann Lee 569-4345", "", "Total 2"], text


def test_lines_over_a_halftone_header_head_their_table_and_a_title_across_it_does_not():
    # The grid holds a header row shaded in a halftone in no cell (its dots are ink). Its lines, each under one of
    # the table's columns, are the table's header row; a title inside the frame across both columns is not one.
    from deepseek_ocr_api.engines.reading_order import take_ruled_tables
    from deepseek_ocr_api.engines.ruled_tables import RuledTable

    cells = [(0, 50, 300, 90), (310, 50, 600, 90), (0, 100, 300, 140), (310, 100, 600, 140)]
    rows = [line("Ann Lee", 10, 60, 120), line("569-4345", 320, 60, 440),
            line("Bo Chan", 10, 110, 120), line("569-4351", 320, 110, 440)]
    table = RuledTable((0, 0, 600, 140), cells)
    header = [line("Analyst", 100, 12, 200), line("Phone", 400, 14, 480)]
    layout = paragraphs(take_ruled_tables(header + rows, [table]))
    assert to_markdown(layout) == "\n".join(["| Analyst | Phone |", "|---|---|", "| Ann Lee | 569-4345 |",
                                             "| Bo Chan | 569-4351 |"])
    assert [block["type"] for block in to_blocks(layout)] == ["table"]
    title = [line("Analysts and their phones", 100, 12, 480)]
    layout = paragraphs(take_ruled_tables(title + rows, [table]))
    assert to_markdown(layout).split("\n\n") == ["Analysts and their phones", "\n".join(
        ["| Ann Lee | 569-4345 |", "|---|---|", "| Bo Chan | 569-4351 |"])]


def test_a_note_across_a_tables_first_columns_and_a_lone_dollar_sign_leave_its_columns_alone():
    # An analyst's model summary (multicol_04): its note spans the table's first columns, and the figures of one
    # row are set "$ 8.44", the "$" a box of its own. The note closed the gutters it crosses (the first figures
    # came out in one cell with their row's label), and each "$" made a column of its own.
    lines = [line("Model Summary", 40, 20, 300, 36)]
    lines += [line(year, 420 + 170 * i, 80, 520 + 170 * i) for i, year in enumerate(
        ["FY2012A", "FY2013A", "FY2014E", "FY2015E"])]
    rows = [("Revenue ($MM)", ["$7,230", "$8,382", "$9,647", "$10,752"]),
            ("YoY Change", ["16.2%", "15.9%", "15.1%", "11.4%"]), ("Margin", ["27.4%", "28.4%", "30.7%", "31.6%"])]
    for index, (label, figures) in enumerate(rows):
        lines += [line(label, 40, 120 + 40 * index, 300)]
        lines += [line(figure, 440 + 170 * i, 120 + 40 * index, 520 + 170 * i) for i, figure in enumerate(figures)]
    lines += [line("EPS", 40, 240, 100)]
    for i, figure in enumerate(["8.44", "9.76", "11.94", "13.79"]):
        lines += [line("$", 425 + 170 * i, 240, 440 + 170 * i), line(figure, 460 + 170 * i, 240, 520 + 170 * i)]
    lines += [line("Sources: company reports and our estimates", 40, 280, 820)]
    assert to_markdown(paragraphs(lines)) == "\n".join([
        "# Model Summary", "",
        "|  | FY2012A | FY2013A | FY2014E | FY2015E |", "|---|---|---|---|---|",
        "| Revenue ($MM) | $7,230 | $8,382 | $9,647 | $10,752 |",
        "| YoY Change | 16.2% | 15.9% | 15.1% | 11.4% |",
        "| Margin | 27.4% | 28.4% | 30.7% | 31.6% |",
        "| EPS | $ 8.44 | $ 9.76 | $ 11.94 | $ 13.79 |", "",
        "Sources: company reports and our estimates"])


def test_an_items_name_alone_in_its_row_stays_in_the_first_column():
    # A receipt's item table: a code, quantity and prices on one row, the item's name alone on the next, running
    # from the first column into the second. Placed by its middle, the name went under the quantities.
    lines = []
    for index, (code, name) in enumerate([("2623", "NAIL (PER/PACK) - RM2"), ("3483", "PAINT ROLLER SET 7IN"),
                                          ("1452", "SANCORA PAINT BRUSH")]):
        top = 20 + 60 * index
        lines += [line(code, 40, top, 100), line("1", 260, top, 275), line("7.95", 400, top, 460),
                  line("7.95", 540, top, 600), line("SR", 660, top, 690), line(name, 40, top + 28, 380)]
    table = to_markdown(paragraphs(lines)).split("\n")
    assert table[:4] == ["| 2623 | 1 | 7.95 | 7.95 | SR |", "|---|---|---|---|---|",
                         "| NAIL (PER/PACK) - RM2 |  |  |  |  |", "| 3483 | 1 | 7.95 | 7.95 | SR |"], table
