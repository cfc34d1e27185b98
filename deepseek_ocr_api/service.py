"""One OCR request: decode the upload, read its pages through the runtime, save the result files. It returns a
typed `DocumentResult`; the views and schemas alone turn it into JSON."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

from PIL import ImageDraw

from deepseek_ocr_api.documents import Document, read_document
from deepseek_ocr_api.engines.base import OcrOutput
from deepseek_ocr_api.engines.orientation import upright, upright_size
from deepseek_ocr_api.images import PageLimits
from deepseek_ocr_api.pdf_renderer import RenderLimits
from deepseek_ocr_api.results import ResultStore, current_results
from deepseek_ocr_api.runtime import current_runtime
from deepseek_ocr_api.settings import current_settings
from deepseek_ocr_api.tasks import Task, parse_prompt, preset_task

log = logging.getLogger(__name__)

COMPLETED = "OCR completed successfully / OCR 成功完成"
NOT_SAVED = ("OCR completed successfully, but the result file could not be saved / "
             "OCR 成功完成，但结果文件无法保存")
# Between the pages of a document in `text`: the separator DeepSeek-OCR's own PDF pipeline writes.
PAGE_SEPARATOR = "\n\n<--- Page Split --->\n\n"
# finish_reason -> how the message says the text was cut.
CUT = {
    "repetition": ("OCR stopped early: the model started repeating itself; the text holds what it read before "
                   "the loop / OCR 提前停止：模型开始重复输出，文本为重复之前识别的内容"),
    "max_new_tokens": ("OCR stopped early: the text reached OCR_MAX_NEW_TOKENS and may be incomplete / "
                       "OCR 提前停止：输出达到 OCR_MAX_NEW_TOKENS 上限，文本可能不完整"),
}
TOKEN_KINDS = ("prompt", "vision", "generated")
ANSWERED_BY = ("engine", "model", "revision", "device", "dtype", "quantization")


@dataclass(frozen=True)
class OcrRequest:
    """What a client asked for, whichever endpoint it came through; every choice between fields is made here."""

    task: Task
    output_format: str  # text, markdown or json
    mode: str | None = None  # None: the engine's default
    pages: str | None = None  # e.g. "1-3,7"; None: all
    save_to_file: bool = True
    return_image: bool = False

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> OcrRequest:
        """From the validated fields of /ocr or /ocr-base64. A prompt wins over `task`; with neither,
        output_format=markdown means the markdown task, else free OCR. The output format follows the task
        unless the request names one."""
        if fields.get("prompt"):
            task = parse_prompt(fields["prompt"])
        else:
            name = fields.get("task") or ("markdown" if fields.get("output_format") == "markdown" else "free_ocr")
            task = preset_task(name, fields.get("ref"))
        output_format = fields.get("output_format") or ("markdown" if task.name == "markdown" else "text")
        return cls(task, output_format, fields.get("mode"), fields.get("pages"),
                   fields.get("save_to_file", True), fields.get("return_image", False))


@dataclass
class PageResult:
    """One page read."""

    page: int  # its number in the upload, from 1
    text: str
    width: int  # of the upright page, as read
    height: int
    rotation: int  # clockwise degrees the page was turned to make it upright
    confidence: float | None
    finish_reason: str
    blocks: list[dict[str, Any]]
    image_file: str | None
    ocr_ms: float
    tokens: dict[str, int | None]
    batch_size: int = 1  # pages read together with this one, itself included (pages kept before batching: 1)


@dataclass
class DocumentResult:
    """Everything one request read, and which engine read it."""

    engine: str  # which engine and model answered, as the engine describes itself
    model: str
    revision: str | None
    device: str
    dtype: str
    quantization: str
    mode: str
    task: str
    output_format: str
    document_type: str
    page_count: int  # pages in the upload
    pages: list[PageResult]
    timings: dict[str, float]
    stem: str  # the result file's name without its extension, shared with the page pictures
    output_file: str | None = None
    save_failed: bool = False
    success: bool = field(default=True, init=False)

    @property
    def text(self) -> str:
        return PAGE_SEPARATOR.join(page.text for page in self.pages)

    @property
    def pages_read(self) -> int:
        return len(self.pages)

    @property
    def finish_reason(self) -> str:
        return next((page.finish_reason for page in self.pages if page.finish_reason != "complete"), "complete")

    @property
    def message(self) -> str:
        message = CUT.get(self.finish_reason, COMPLETED)
        if self.save_failed:
            return NOT_SAVED if message == COMPLETED else f"{message}; {NOT_SAVED}"
        return message

    @property
    def tokens(self) -> dict[str, int | None]:
        """Summed over the pages; None where the engine does not count them."""
        return {kind: None if any(page.tokens[kind] is None for page in self.pages)
                else sum(page.tokens[kind] for page in self.pages) for kind in TOKEN_KINDS}

    @property
    def image_width(self) -> int:
        return self.pages[0].width

    @property
    def image_height(self) -> int:
        return self.pages[0].height


def open_document(data: bytes, pages: str | None, settings) -> Document:
    """The pages of an upload under the server's limits; a 400 for anything unreadable or too large."""
    return read_document(data, limits=PageLimits.from_settings(settings), dpi=settings.pdf_dpi, pages=pages,
                         max_pages=settings.max_pages,
                         render_limits=RenderLimits(settings.pdf_render_timeout, settings.pdf_render_memory_mb))


def read_pages(document: Document, numbers: list[int], request: OcrRequest, mode: str,
               stem: str) -> Iterator[PageResult]:
    """Render pages and read them through the runtime, in order. Up to the engine's batch size are rendered and
    handed in at once, so they are read together (with pages of other requests waiting then); a page's picture
    is saved when asked for. Pages handed in and not read, when the caller stops early, are taken back."""
    runtime = current_runtime()
    size = runtime.batch_limit
    for chunk in (numbers[start:start + size] for start in range(0, len(numbers), size)):
        started = time.monotonic()
        images, works = [], []
        try:
            for number in chunk:
                images.append(document.render(number))
                works.append(runtime.submit(images[-1], request.task, mode))
            for number, image, work in zip(chunk, images, works, strict=True):
                output = runtime.result(work)
                yield page_result(number, image, output, request, stem, started)
        finally:
            runtime.withdraw([work for work in works if not work.done.is_set()])


def page_result(number: int, image, output: OcrOutput, request: OcrRequest, stem: str, started: float) -> PageResult:
    """The engine read the page upright: its size and boxes are those of the upright page, and only a page picture
    needs the pixels turned again."""
    width, height = upright_size(image.size, output.rotation)
    picture = (save_page_picture(upright(image, output.rotation), output.blocks, stem, number)
               if request.return_image else None)
    return PageResult(number, output.text, width, height, output.rotation, output.confidence, output.finish_reason,
                      output.blocks, picture, round((time.monotonic() - started) * 1000, 1), output.tokens,
                      output.batch_size)


def document_result(answered_by: dict[str, Any], mode: str, request: OcrRequest, document_type: str, page_count: int,
                    pages: list[PageResult], stem: str, timings: dict[str, float]) -> DocumentResult:
    """The result of a document's pages, with the engine and model that read them."""
    return DocumentResult(**{name: answered_by[name] for name in ANSWERED_BY}, mode=mode, task=request.task.name,
                          output_format=request.output_format, document_type=document_type, page_count=page_count,
                          pages=pages, stem=stem, timings=timings)


def run_ocr(data: bytes, request: OcrRequest) -> DocumentResult:
    """Read an upload (an image, a PDF or a multi-page TIFF); page pictures are saved, the result file is not."""
    started = time.monotonic()
    runtime = current_runtime()
    stem = ResultStore.new_stem()
    pages: list[PageResult] = []
    # The queue slot first: a full server turns a request away before spending anything on decoding it.
    with runtime.document() as progress:
        mode = runtime.check_request(request.task, request.mode)
        document = open_document(data, request.pages, current_settings())
        progress.pages_total = len(document.numbers)
        decoded = time.monotonic()
        with closing(document):
            for page in read_pages(document, document.numbers, request, mode, stem):
                pages.append(page)
                progress.pages_done += 1
                if len(document.numbers) > 1:
                    log.info("Read page %d (%d of %d) of a %s in %.1f s", page.page, progress.pages_done,
                             len(document.numbers), document.kind, pages[-1].ocr_ms / 1000)
    finished = time.monotonic()
    return document_result(runtime.describe(), mode, request, document.kind, document.page_count, pages, stem,
                           {"decode_ms": round((decoded - started) * 1000, 1),
                            "ocr_ms": round((finished - decoded) * 1000, 1),
                            "total_ms": round((time.monotonic() - started) * 1000, 1)})


def save_result(result: DocumentResult, as_json: Callable[[DocumentResult], str]) -> None:
    """Write the text, or for output_format json the whole response as `as_json` writes it, as `<stem>.<ext>`;
    on failure the result says so in its message."""
    try:
        if result.output_format == "json":
            result.output_file = ResultStore.result_name(result.stem, "json")  # the file names itself
            current_results().save(as_json(result), "json", result.stem)
        else:
            result.output_file = current_results().save(result.text, result.output_format, result.stem)
    except OSError:
        log.exception("Could not save the OCR result in %s", current_results().folder)
        result.output_file, result.save_failed = None, True


def save_page_picture(image, blocks: list[dict], stem: str, page: int) -> str | None:
    """The page with its blocks outlined, saved beside the result; None (and a log line) if it cannot be saved."""
    picture = image.copy()
    draw = ImageDraw.Draw(picture)
    for block in blocks:
        draw.rectangle(block["box"], outline=(220, 30, 30), width=max(2, image.width // 500))
    try:
        return current_results().save_image(picture, stem, page)
    except OSError:
        log.exception("Could not save the page picture in %s", current_results().folder)
        return None
