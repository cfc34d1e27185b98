"""One OCR job: decode the upload, run it through the engine, save the result file."""
from __future__ import annotations

import json
import logging
import time
from contextlib import closing

from flask import current_app
from PIL import ImageDraw

from deepseek_ocr_api.documents import read_document
from deepseek_ocr_api.images import PageLimits
from deepseek_ocr_api.pdf_renderer import RenderLimits
from deepseek_ocr_api.results import ResultStore
from deepseek_ocr_api.runtime import current_runtime
from deepseek_ocr_api.schemas import OcrOut
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


def current_results() -> ResultStore:
    return current_app.extensions["results"]


def choose_task(fields: dict) -> Task:
    """A prompt wins over `task`; with neither, output_format=markdown means the markdown task, else free OCR."""
    if fields.get("prompt"):
        return parse_prompt(fields["prompt"])
    name = fields.get("task") or ("markdown" if fields.get("output_format") == "markdown" else "free_ocr")
    return preset_task(name, fields.get("ref"))


def run_ocr(data: bytes, fields: dict) -> dict:
    """The response body of /ocr and /ocr-base64 for one upload (an image, a PDF or a multi-page TIFF)
    and the request's validated fields."""
    started = time.monotonic()
    runtime = current_runtime()
    config = current_app.config
    task = choose_task(fields)
    stem = ResultStore.new_stem()  # shared by the result file and the page pictures
    read: list[dict] = []
    outputs = []
    # The queue slot first: a full server turns a request away before spending anything on decoding it.
    with runtime.document() as progress:
        document = read_document(data, limits=PageLimits.from_config(config), dpi=float(config["PDF_DPI"]),
                                 pages=fields.get("pages"), max_pages=int(config["MAX_PAGES"]),
                                 render_limits=RenderLimits(float(config["PDF_RENDER_TIMEOUT"]),
                                                            int(config["PDF_RENDER_MEMORY_MB"])))
        progress.pages_total = len(document.numbers)
        decoded = time.monotonic()
        with closing(document):
            for number in document.numbers:
                page_started = time.monotonic()
                image = document.render(number)
                output = runtime.run(image, task, fields.get("mode"))
                outputs.append(output)
                read.append({"page": number, "text": output.text, "width": image.width, "height": image.height,
                             "finish_reason": output.finish_reason, "blocks": output.blocks,
                             "image_file": save_page_picture(image, output.blocks, stem, number)
                             if fields.get("return_image") else None,
                             "ocr_ms": round((time.monotonic() - page_started) * 1000, 1)})
                progress.pages_done += 1
                if len(document.numbers) > 1:
                    log.info("Read page %d (%d of %d) of a %s in %.1f s", number, progress.pages_done,
                             len(document.numbers), document.kind, time.monotonic() - page_started)
    finished = time.monotonic()

    output_format = fields.get("output_format") or outputs[0].output_format
    finish_reason = next((o.finish_reason for o in outputs if o.finish_reason != "complete"), "complete")
    description = runtime.engine.describe()
    body = {
        "success": True,
        "message": CUT.get(finish_reason, COMPLETED),
        "text": PAGE_SEPARATOR.join(page["text"] for page in read),
        "output_file": None,
        "engine": description["engine"],
        "model": description["model"],
        "revision": description["revision"],
        "device": description["device"],
        "dtype": description["dtype"],
        "quantization": description["quantization"],
        "mode": outputs[0].mode,
        "task": task.name,
        "output_format": output_format,
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
    if fields.get("save_to_file", True):
        save_result(body, stem)
    return body


def save_result(body: dict, stem: str) -> None:
    """Write the text (or, for output_format json, the whole response) as `<stem>.<ext>`; say so if that fails."""
    try:
        if body["output_format"] == "json":
            body["output_file"] = ResultStore.result_name(stem, "json")
            current_results().save(json.dumps(OcrOut().dump(body), ensure_ascii=False, indent=2), "json", stem)
        else:
            body["output_file"] = current_results().save(body["text"], body["output_format"], stem)
    except OSError:
        log.exception("Could not save the OCR result in %s", current_results().folder)
        body["output_file"] = None
        body["message"] = NOT_SAVED if body["message"] == COMPLETED else f"{body['message']}; {NOT_SAVED}"


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


def total_tokens(outputs) -> dict[str, int | None]:
    """Token counts summed over the pages; None where the engine does not count them."""
    return {key: None if any(o.tokens[key] is None for o in outputs) else sum(o.tokens[key] for o in outputs)
            for key in ("prompt", "vision", "generated")}
