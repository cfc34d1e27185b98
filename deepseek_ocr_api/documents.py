"""Uploads as documents: a PDF or a multi-page TIFF becomes pages, an image is a document of one page."""
from __future__ import annotations

import io
import re
import threading
import warnings
from dataclasses import dataclass
from typing import Callable

from PIL import Image, ImageOps

from deepseek_ocr_api.errors import InvalidImage, InvalidInput
from deepseek_ocr_api.images import decode_image, sniff_format, to_rgb

PAGE_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")
# PDFium is not thread-safe, and gunicorn's request threads may open two PDFs at once.
PDFIUM = threading.Lock()
PAGES_SUGGESTION = "Send pages as page numbers and ranges, e.g. \"1-3,7\" / 用页码和范围指定页面，例如 \"1-3,7\""


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


def read_document(data: bytes, *, max_pixels: int, dpi: float, pages: str | None, max_pages: int) -> Document:
    """The pages of a PDF, a multi-page TIFF or an image; InvalidImage/InvalidInput (400) for anything unreadable."""
    if data[:1024].lstrip()[:5] == b"%PDF-":
        return _pdf(data, max_pixels, dpi, pages, max_pages)
    if sniff_format(data) == "TIFF":
        document = _tiff(data, max_pixels, pages, max_pages)
        if document is not None:
            return document
    image = decode_image(data, max_pixels)
    return Document("image", 1, select_pages(pages, 1, max_pages), lambda number: image)


def _pdf(data: bytes, max_pixels: int, dpi: float, pages: str | None, max_pages: int) -> Document:
    import pypdfium2 as pdfium

    try:
        with PDFIUM:
            pdf = pdfium.PdfDocument(data)
            page_count = len(pdf)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise InvalidInput("The PDF is encrypted with a password; send an unprotected copy",
                               ["Remove the password (e.g. qpdf --decrypt) / 去除 PDF 密码后重新上传"],
                               error="Encrypted PDF / PDF 已加密") from exc
        raise InvalidImage(f"The PDF could not be read: it is truncated or corrupt ({exc})",
                           ["Re-export or re-scan the PDF / 重新导出 PDF"]) from exc
    if page_count == 0:
        raise InvalidImage("The PDF has no pages")
    numbers = select_pages(pages, page_count, max_pages)
    scale = dpi / 72
    # Every page's size is checked before the first is read, so no page is read in vain.
    with PDFIUM:
        for number in numbers:
            width, height = (round(side * scale) for side in pdf.get_page_size(number - 1))
            if width * height > max_pixels:
                raise InvalidImage(f"Page {number} renders at {dpi:g} dpi to {width}x{height} = {width * height} "
                                   f"pixels, over the limit of {max_pixels}",
                                   ["Lower OCR_PDF_DPI or raise OCR_MAX_IMAGE_PIXELS / 降低 OCR_PDF_DPI"])

    def render(number: int) -> Image.Image:
        with PDFIUM:
            page = pdf[number - 1]
            image = page.render(scale=scale).to_pil().convert("RGB")
            page.close()
        return image

    def close() -> None:
        with PDFIUM:
            pdf.close()

    return Document("pdf", page_count, numbers, render, close)


def _tiff(data: bytes, max_pixels: int, pages: str | None, max_pages: int) -> Document | None:
    """A TIFF of several pages as a document; None for a single-page TIFF, which reads as an image."""
    try:
        # Pillow only warns about a damaged page directory; here that is an unreadable upload.
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            tiff = Image.open(io.BytesIO(data), formats=["TIFF"])
            page_count = getattr(tiff, "n_frames", 1)
            sizes = {}
            if page_count > 1:
                for number in range(1, page_count + 1):
                    tiff.seek(number - 1)
                    sizes[number] = tiff.size
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise InvalidImage(f"The image has too many pixels to decode safely ({exc})",
                           ["Reduce image size / 减小图片尺寸"]) from exc
    except (OSError, SyntaxError, ValueError, EOFError, Warning) as exc:
        raise InvalidImage(f"The TIFF image could not be decoded: it is truncated or corrupt ({exc})") from exc
    if page_count < 2:
        return None
    numbers = select_pages(pages, page_count, max_pages)
    for number in numbers:
        width, height = sizes[number]
        if width * height > max_pixels:
            raise InvalidImage(f"Page {number} is {width}x{height} pixels, over the limit of {max_pixels}",
                               ["Reduce image size / 减小图片尺寸"])

    def render(number: int) -> Image.Image:
        try:
            tiff.seek(number - 1)
            return to_rgb(ImageOps.exif_transpose(tiff.copy()))
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise InvalidImage(f"Page {number} of the TIFF could not be decoded ({exc})") from exc

    return Document("tiff", page_count, numbers, render)
