"""PDF pages rendered in a child process with a memory cap and a time limit, so a PDF bomb costs its own request a
400 and never the worker that owns the model.

PDFium is not thread-safe and aborts the whole process on an allocation it cannot make (`std::bad_alloc`). Each
document gets its own `python -m deepseek_ocr_api.pdf_renderer` child: it caps its own address space, opens the
PDF, and renders the pages the parent asks for, one at a time. The parent waits for each answer no longer than
the time limit and kills the child past it. Children of different requests run side by side.

The protocol on the child's stdin/stdout: the parent sends the PDF as an 8-byte big-endian length and its bytes,
then one JSON command per line; the child answers each with one JSON line, a rendered page followed by its RGB
bytes.
"""
from __future__ import annotations

import json
import os
import resource
import selectors
import signal
import struct
import subprocess
import sys
import time
from dataclasses import dataclass

from PIL import Image

from deepseek_ocr_api.errors import InvalidImage, InvalidInput

PDF_SUGGESTIONS = ("Re-export or re-scan the PDF / 重新导出 PDF",
                   "Send the pages as images / 将页面转换为图片后上传")


@dataclass(frozen=True)
class RenderLimits:
    """How long one step of the renderer may take, and how much memory its process may map."""

    timeout: float  # OCR_PDF_RENDER_TIMEOUT: seconds to open the PDF or render one page
    memory_mb: int  # OCR_PDF_RENDER_MEMORY_MB: the renderer's address-space cap


class RendererFailed(InvalidImage):
    """The renderer crashed, ran out of its memory or its time: the PDF is damaged or built to exhaust it."""

    suggestions = PDF_SUGGESTIONS


class PdfRenderer:
    """One PDF open in a child process (the parent side)."""

    def __init__(self, data: bytes, limits: RenderLimits):
        self.limits = limits
        self._buffer = bytearray()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "deepseek_ocr_api.pdf_renderer", str(limits.memory_mb)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, close_fds=True)
        try:
            self.process.stdin.write(struct.pack(">Q", len(data)) + data)
            self.process.stdin.flush()
        except OSError:
            pass  # the child is gone already; its answer (none) says why
        try:
            opened = self._answer("open the PDF")
        except RendererFailed:
            self.close()
            raise
        if "error" in opened:
            self.close()
            message = opened["error"]
            if "password" in message.lower():
                raise InvalidInput("The PDF is encrypted with a password; send an unprotected copy",
                                   ["Remove the password (e.g. qpdf --decrypt) / 去除 PDF 密码后重新上传"],
                                   error="Encrypted PDF / PDF 已加密")
            raise InvalidImage(f"The PDF could not be read: it is truncated or corrupt ({message})", PDF_SUGGESTIONS)
        self.page_count: int = opened["page_count"]

    def page_size(self, number: int) -> tuple[float, float]:
        """Width and height of page `number` (1-based) in points."""
        answer = self._ask({"size": number}, f"read the size of page {number}")
        return tuple(answer["size"])

    def render(self, number: int, scale: float) -> Image.Image:
        """Page `number` as an RGB image at `scale` pixels per point."""
        answer = self._ask({"render": number, "scale": scale}, f"render page {number}")
        width, height = answer["width"], answer["height"]
        pixels = self._read(width * height * 3, time.monotonic() + self.limits.timeout, f"render page {number}")
        return Image.frombytes("RGB", (width, height), pixels)

    def close(self) -> None:
        """Let the child exit (its stdin closes); kill it if it does not."""
        try:
            self.process.stdin.close()
        except OSError:
            pass  # the child is gone and the pipe with it
        try:
            self.process.wait(2)
        except subprocess.TimeoutExpired:
            self._kill()
        self.process.stdout.close()

    def _ask(self, command: dict, what: str) -> dict:
        try:
            self.process.stdin.write(json.dumps(command).encode() + b"\n")
            self.process.stdin.flush()
        except OSError:
            pass
        answer = self._answer(what)
        if "error" in answer:
            raise InvalidImage(f"The PDF is damaged: could not {what} ({answer['error']})", PDF_SUGGESTIONS)
        return answer

    def _answer(self, what: str) -> dict:
        deadline = time.monotonic() + self.limits.timeout
        while b"\n" not in self._buffer:
            self._fill(deadline, what)
        line, _, rest = bytes(self._buffer).partition(b"\n")
        self._buffer = bytearray(rest)
        return json.loads(line)

    def _read(self, size: int, deadline: float, what: str) -> bytearray:
        while len(self._buffer) < size:
            self._fill(deadline, what)
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def _fill(self, deadline: float, what: str) -> None:
        """Read what the child has sent; RendererFailed when it died or the deadline passed."""
        remaining = deadline - time.monotonic()
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            ready = remaining > 0 and selector.select(remaining)
        if not ready:
            self._kill()
            raise RendererFailed(
                f"The PDF renderer took longer than {self.limits.timeout:g} s to {what} (OCR_PDF_RENDER_TIMEOUT): "
                "the PDF is too complex or built to exhaust the renderer")
        chunk = os.read(self.process.stdout.fileno(), 1 << 20)
        if not chunk:
            code = self._kill()
            cause = f"it was killed by {signal.Signals(-code).name}" if code < 0 else f"it exited with status {code}"
            raise RendererFailed(
                f"The PDF renderer failed to {what}: {cause}, which happens when a PDF is damaged or needs more than "
                f"{self.limits.memory_mb} MB (OCR_PDF_RENDER_MEMORY_MB)")
        self._buffer += chunk

    def _kill(self) -> int | None:
        if self.process.poll() is None:
            self.process.kill()
        return self.process.wait()


def _serve(memory_mb: int) -> None:
    """The child: cap memory, open the PDF from stdin, answer commands until stdin closes."""
    limit = memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    import pypdfium2 as pdfium

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer

    def reply(answer: dict, payload: bytes = b"") -> None:
        stdout.write(json.dumps(answer).encode() + b"\n" + payload)
        stdout.flush()

    header = stdin.read(8)
    if len(header) < 8:
        return
    data = stdin.read(struct.unpack(">Q", header)[0])
    try:
        pdf = pdfium.PdfDocument(data)
        reply({"page_count": len(pdf)})
    except (pdfium.PdfiumError, MemoryError) as exc:
        reply({"error": str(exc) or type(exc).__name__})
        return
    for line in stdin:
        command = json.loads(line)
        try:
            if "size" in command:
                reply({"size": list(pdf.get_page_size(command["size"] - 1))})
            else:
                page = pdf[command["render"] - 1]
                image = page.render(scale=command["scale"]).to_pil().convert("RGB")
                page.close()
                reply({"width": image.width, "height": image.height}, image.tobytes())
        except (pdfium.PdfiumError, MemoryError, ValueError, IndexError) as exc:
            reply({"error": f"{type(exc).__name__}: {exc}"})


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
