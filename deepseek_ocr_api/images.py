"""Turning uploaded bytes into a page image: format sniffed from the bytes, shape checked before decoding, and the
page brought to a size the engines read well before any engine sees it."""
from __future__ import annotations

import base64
import binascii
import io
import logging
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from deepseek_ocr_api.errors import InvalidImage, InvalidInput

# Magic numbers of the formats we accept; the client's filename and content type are never trusted.
SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"BM", "BMP"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
)
DATA_URL = re.compile(r"^\s*data:[^,]{0,200},", re.I)
SIZE_SUGGESTION = "Reduce image size / 减小图片尺寸"
ASPECT_SUGGESTION = ("Crop the page to its content, or split a long strip into pages / "
                     "裁剪到内容区域，或将长条图切分为多页")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PageLimits:
    """What one page may be: checked on the header's size before any pixel is decoded."""

    max_pixels: int  # OCR_MAX_IMAGE_PIXELS: more is a 400
    max_side: int  # OCR_MAX_PAGE_SIDE: a longer page is scaled down to this, never refused
    max_aspect: float  # OCR_MAX_ASPECT: a long side more than this many times the short one is a 400

    @classmethod
    def from_settings(cls, settings) -> PageLimits:
        return cls(settings.max_image_pixels, settings.max_page_side, settings.max_aspect)

    def check(self, width: int, height: int, what: str = "The image") -> None:
        """InvalidImage (400) for a page with no area, too thin a strip, or too many pixels."""
        self.check_shape(width, height, what)
        self.check_pixels(width, height, what)

    def check_shape(self, width: float, height: float, what: str) -> None:
        """InvalidImage (400) for a page with no area or too thin a strip."""
        if width < 1 or height < 1:
            raise InvalidImage(f"{what} is {width:g}x{height:g}: it has no area")
        if max(width, height) > self.max_aspect * min(width, height):
            raise InvalidImage(
                f"{what} is {width:g}x{height:g}: its long side is {max(width, height) / min(width, height):.0f} times "
                f"its short side, over the limit of {self.max_aspect:g} (OCR_MAX_ASPECT)", [ASPECT_SUGGESTION])

    def check_pixels(self, width: int, height: int, what: str, suggestion: str = SIZE_SUGGESTION) -> None:
        """InvalidImage (400) for a page of more pixels than OCR_MAX_IMAGE_PIXELS."""
        if width * height > self.max_pixels:
            raise InvalidImage(f"{what} is {width}x{height} = {width * height} pixels, over the limit of "
                               f"{self.max_pixels} (OCR_MAX_IMAGE_PIXELS)", [suggestion])

    def fitted_size(self, width: int, height: int) -> tuple[int, int]:
        """The size a page is read at: as it is, or scaled down so that its long side is max_side."""
        scale = min(1.0, self.max_side / max(width, height))
        return max(1, round(width * scale)), max(1, round(height * scale))

    def fit(self, image: Image.Image) -> Image.Image:
        """The page scaled down to max_side on its long side (engines gain nothing from more, and memory grows
        with every pixel)."""
        size = self.fitted_size(*image.size)
        if size == image.size:
            return image
        return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def sniff_format(data: bytes) -> str | None:
    """The image format the bytes start with, or None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    for signature, name in SIGNATURES:
        if data.startswith(signature):
            return name
    return None


def decode_base64(value: str) -> bytes:
    """Bytes of a base64 string, with or without a `data:...;base64,` prefix (whatever type it claims)."""
    payload = "".join(DATA_URL.sub("", value, count=1).split())
    if not payload:
        raise InvalidInput("image_base64 is empty", ["Send the image bytes encoded as base64 / 请发送 base64 编码的图片"])
    payload += "=" * (-len(payload) % 4)
    altchars = b"-_" if ("-" in payload or "_" in payload) else None
    try:
        return base64.b64decode(payload, altchars=altchars, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(
            f"image_base64 is not valid base64: {exc}",
            ["Encode the file with base64.b64encode(data).decode() / 使用 base64.b64encode(data).decode() 编码文件"],
        ) from exc


def decode_image(data: bytes, limits: PageLimits) -> Image.Image:
    """An RGB page, upright per its EXIF orientation and fitted to the limits; InvalidImage for anything that is
    not a whole image within them."""
    if not data:
        raise InvalidImage("The uploaded file is empty")
    detected = sniff_format(data)
    if detected is None:
        raise InvalidImage("The data is not a supported image or PDF (its first bytes match no PNG, JPEG, TIFF, BMP, "
                           "WebP, GIF or PDF signature)")
    with decoder_errors(f"The {detected} image"):
        image = Image.open(io.BytesIO(data), formats=[detected])
        limits.check(*image.size)
        if detected == "JPEG":
            # The JPEG decoder can scale by 1/2, 1/4 or 1/8 while it decodes: a huge photo never exists at full size.
            image.draft("RGB", limits.fitted_size(*image.size))
        image.load()
        image = ImageOps.exif_transpose(image)
        return limits.fit(to_rgb(image))


@contextmanager
def decoder_errors(what: str) -> Iterator[None]:
    """Whatever a decoder raises on bytes it cannot read is the client's problem: a 400 naming what failed.

    Pillow's decoders raise OSError, SyntaxError, ValueError and EOFError, but on crafted files also TypeError
    (a page without a width), KeyError, IndexError, struct.error and ZeroDivisionError; none of them means the
    server is broken. Pillow only warns about a damaged page directory; here that is an unreadable upload too.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            yield
    except (InvalidImage, MemoryError):
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        # Pillow's own guard fires at open() for headers claiming far more pixels than ours allows.
        raise InvalidImage(f"{what} has too many pixels to decode safely ({exc})", [SIZE_SUGGESTION]) from exc
    except Exception as exc:
        log.debug("Decoder error on an upload", exc_info=exc)
        raise InvalidImage(f"{what} could not be decoded: it is truncated or corrupt "
                           f"({type(exc).__name__}: {exc})") from exc


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB on a white background: transparent pixels of a PNG must read as paper, not as black."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, "white")
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if image.mode.startswith("I;16"):
        # 16-bit scans: keep the top 8 bits instead of letting convert() clip everything above 255 to white.
        image = Image.fromarray((np.asarray(image, dtype=np.uint16) >> 8).astype(np.uint8))
    return image.convert("RGB")
