"""Turning uploaded bytes into a page image: format sniffed from the bytes, size checked before decoding."""
from __future__ import annotations

import base64
import binascii
import io
import re
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

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


def decode_image(data: bytes, max_pixels: int) -> Image.Image:
    """An RGB image, upright per its EXIF orientation; InvalidImage for anything that is not a whole image."""
    if not data:
        raise InvalidImage("The uploaded file is empty")
    detected = sniff_format(data)
    if detected is None:
        raise InvalidImage("The data is not a supported image or PDF (its first bytes match no PNG, JPEG, TIFF, BMP, "
                           "WebP, GIF or PDF signature)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[detected])
            width, height = image.size
            if width * height > max_pixels:
                raise InvalidImage(
                    f"The image is {width}x{height} = {width * height} pixels, over the limit of {max_pixels}",
                    ["Reduce image size / 减小图片尺寸"],
                )
            image.load()
            image = ImageOps.exif_transpose(image)
    except InvalidImage:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        # Pillow's own guard fires at open() for headers claiming far more pixels than ours allows.
        raise InvalidImage(f"The image has too many pixels to decode safely ({exc})",
                           ["Reduce image size / 减小图片尺寸"]) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InvalidImage(f"The {detected} image could not be decoded: it is truncated or corrupt ({exc})") from exc
    return to_rgb(image)


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
