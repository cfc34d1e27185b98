"""Uploads as documents: a PDF or a multi-page TIFF becomes pages, an image is a document of one page."""
from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, ImageOps

from deepseek_ocr_api.errors import InvalidImage, InvalidInput
from deepseek_ocr_api.images import PageLimits, decode_image, decoder_errors, sniff_format, to_rgb
from deepseek_ocr_api.pdf_renderer import PdfRenderer, RenderLimits

PAGE_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")
PAGES_SUGGESTION = "Send pages as page numbers and ranges, e.g. \"1-3,7\" / 用页码和范围指定页面，例如 \"1-3,7\""
# Pillow finds a TIFF's pages by walking its page directories, in time that grows with the square of their
# number (40k pages: 12 s); past this many the walk stops and the upload is refused.
TIFF_MAX_PAGES = 1000
PDF_PIXELS_SUGGESTION = "Lower OCR_PDF_DPI or raise OCR_MAX_IMAGE_PIXELS / 降低 OCR_PDF_DPI"


@dataclass
class Document:
    """The pages of one upload to read, rendered one at a time as they are needed."""

    kind: str  # "image", "pdf" or "tiff"
    page_count: int  # pages in the upload
    numbers: list[int]  # the pages to read, 1-based, in order
    render: Callable[[int], Image.Image]
    close: Callable[[], None] = lambda: None


def select_pages(spec: str | None, page_count: int, max_pages: int) -> list[int]:
    """Page numbers from `"1-3,7"` (all pages when empty); a 400 for a bad spec, a page out of range, or too many."""
    if not spec or not spec.strip():
        numbers = list(range(1, page_count + 1))
    else:
        chosen: set[int] = set()
        for part in spec.split(","):
            match = PAGE_RANGE.match(part)
            if not match:
                raise InvalidInput(f"pages: {part.strip()!r} is not a page number or a range like 2-5", [PAGES_SUGGESTION])
            first, last = int(match[1]), int(match[2] or match[1])
            if first < 1 or last < first:
                raise InvalidInput(f"pages: {part.strip()!r} is not a valid range (pages count from 1)", [PAGES_SUGGESTION])
            if last > page_count:
                raise InvalidInput(f"pages: page {last} does not exist; the document has {page_count} page(s)",
                                   [PAGES_SUGGESTION])
            chosen.update(range(first, last + 1))
        numbers = sorted(chosen)
    if len(numbers) > max_pages:
        raise InvalidInput(
            f"The request asks for {len(numbers)} pages; this server reads at most {max_pages} per request (OCR_MAX_PAGES)",
            [f"Send pages, e.g. \"1-{max_pages}\", and the rest in further requests / 用 pages 分批发送"],
            error="Too many pages / 页数过多")
    return numbers


def read_document(data: bytes, *, limits: PageLimits, dpi: float, pages: str | None, max_pages: int,
                  render_limits: RenderLimits) -> Document:
    """The pages of a PDF, a multi-page TIFF or an image; InvalidImage/InvalidInput (400) for anything unreadable.
    Every page's shape is checked before the first page is read, so no page is read in vain."""
    if data[:1024].lstrip()[:5] == b"%PDF-":
        return _pdf(data, limits, dpi, pages, max_pages, render_limits)
    if sniff_format(data) == "TIFF":
        document = _tiff(data, limits, pages, max_pages)
        if document is not None:
            return document
    image = decode_image(data, limits)
    return Document("image", 1, select_pages(pages, 1, max_pages), lambda number: image)


def _pdf(data: bytes, limits: PageLimits, dpi: float, pages: str | None, max_pages: int,
         render_limits: RenderLimits) -> Document:
    renderer = PdfRenderer(data, render_limits)
    try:
        if renderer.page_count == 0:
            raise InvalidImage("The PDF has no pages")
        numbers = select_pages(pages, renderer.page_count, max_pages)
        scales = {}
        for number in numbers:
            width, height = renderer.page_size(number)
            limits.check_shape(width, height, f"Page {number} (in points)")
            # OCR_PDF_DPI, or less where that would make the long side longer than OCR_MAX_PAGE_SIDE.
            scales[number] = min(dpi / 72, limits.max_side / max(width, height))
            limits.check_pixels(round(width * scales[number]), round(height * scales[number]),
                                f"Page {number} rendered at {dpi:g} dpi", PDF_PIXELS_SUGGESTION)
    except BaseException:
        renderer.close()
        raise
    return Document("pdf", renderer.page_count, numbers, lambda number: renderer.render(number, scales[number]),
                    renderer.close)


def _tiff(data: bytes, limits: PageLimits, pages: str | None, max_pages: int) -> Document | None:
    """A TIFF of several pages as a document; None for a single-page TIFF, which reads as an image."""
    with decoder_errors("The TIFF image"):
        tiff = Image.open(io.BytesIO(data), formats=["TIFF"])
        sizes = {1: tiff.size}
        # Walk the page directories once, stopping at the limit (never `n_frames`, which walks them all).
        while len(sizes) <= TIFF_MAX_PAGES:
            try:
                tiff.seek(len(sizes))
            except EOFError:
                break
            sizes[len(sizes) + 1] = tiff.size
    page_count = len(sizes)
    if page_count > TIFF_MAX_PAGES:
        raise InvalidInput(f"The TIFF has more than {TIFF_MAX_PAGES} pages, the most this server opens",
                           ["Split the file, or send the pages as a PDF / 拆分文件，或转换为 PDF 后上传"],
                           error="Too many pages / 页数过多")
    if page_count < 2:
        return None
    numbers = select_pages(pages, page_count, max_pages)
    for number in numbers:
        limits.check(*sizes[number], f"Page {number}")

    def render(number: int) -> Image.Image:
        with decoder_errors(f"Page {number} of the TIFF"):
            tiff.seek(number - 1)
            return limits.fit(to_rgb(ImageOps.exif_transpose(tiff.copy())))

    return Document("tiff", page_count, numbers, render)
