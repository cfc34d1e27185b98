"""One OCR job: decode the upload, run it through the engine, save the result file."""
from __future__ import annotations

import logging
import time

from flask import current_app

from deepseek_ocr_api.documents import read_document
from deepseek_ocr_api.results import ResultStore
from deepseek_ocr_api.runtime import current_runtime
from deepseek_ocr_api.tasks import parse_prompt

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


def current_results() -> ResultStore:
    return current_app.extensions["results"]


def run_ocr(data: bytes, prompt: str, save_to_file: bool, mode: str | None = None, pages: str | None = None) -> dict:
    """The response body of /ocr and /ocr-base64 for one upload: an image, a PDF or a multi-page TIFF."""
    started = time.monotonic()
    runtime = current_runtime()
    config = current_app.config
    task = parse_prompt(prompt)
    document = read_document(data, max_pixels=config["MAX_IMAGE_PIXELS"], dpi=float(config["PDF_DPI"]),
                             pages=pages, max_pages=int(config["MAX_PAGES"]))
    decoded = time.monotonic()
    read: list[dict] = []
    outputs = []
    with runtime.document(len(document.numbers)) as progress:
        for number in document.numbers:
            page_started = time.monotonic()
            image = document.render(number)
            output = runtime.run(image, task, mode)
            outputs.append(output)
            read.append({"page": number, "text": output.text, "width": image.width, "height": image.height,
                         "finish_reason": output.finish_reason, "blocks": output.blocks,
                         "ocr_ms": round((time.monotonic() - page_started) * 1000, 1)})
            progress.pages_done += 1
            if len(document.numbers) > 1:
                log.info("Read page %d (%d of %d) of a %s in %.1f s", number, progress.pages_done,
                         len(document.numbers), document.kind, time.monotonic() - page_started)
    finished = time.monotonic()

    text = PAGE_SEPARATOR.join(page["text"] for page in read)
    finish_reason = next((o.finish_reason for o in outputs if o.finish_reason != "complete"), "complete")
    message, output_file = CUT.get(finish_reason, COMPLETED), None
    if save_to_file:
        try:
            output_file = current_results().save(text, outputs[0].output_format)
        except OSError:
            log.exception("Could not save the OCR result in %s", current_results().folder)
            message = NOT_SAVED if message == COMPLETED else f"{message}; {NOT_SAVED}"
    description = runtime.engine.describe()
    return {
        "success": True,
        "message": message,
        "text": text,
        "output_file": output_file,
        "engine": description["engine"],
        "model": description["model"],
        "revision": description["revision"],
        "device": description["device"],
        "dtype": description["dtype"],
        "quantization": description["quantization"],
        "mode": outputs[0].mode,
        "task": task.name,
        "output_format": outputs[0].output_format,
        "finish_reason": finish_reason,
        "tokens": total_tokens(outputs),
        "document_type": document.kind,
        "page_count": document.page_count,
        "image_width": read[0]["width"],
        "image_height": read[0]["height"],
        "pages": read,
        "timings": {
            "decode_ms": round((decoded - started) * 1000, 1),
            "ocr_ms": round((finished - decoded) * 1000, 1),
            "total_ms": round((time.monotonic() - started) * 1000, 1),
        },
    }


def total_tokens(outputs) -> dict[str, int | None]:
    """Token counts summed over the pages; None where the engine does not count them."""
    return {key: None if any(o.tokens[key] is None for o in outputs) else sum(o.tokens[key] for o in outputs)
            for key in ("prompt", "vision", "generated")}
