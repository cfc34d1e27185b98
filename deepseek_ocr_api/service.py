"""One OCR job: decode the upload, run it through the engine, save the result file."""
from __future__ import annotations

import logging
import time

from flask import current_app

from deepseek_ocr_api.images import decode_image
from deepseek_ocr_api.results import ResultStore
from deepseek_ocr_api.runtime import current_runtime
from deepseek_ocr_api.tasks import parse_prompt

log = logging.getLogger(__name__)

COMPLETED = "OCR completed successfully / OCR 成功完成"
NOT_SAVED = ("OCR completed successfully, but the result file could not be saved / "
             "OCR 成功完成，但结果文件无法保存")
# finish_reason -> how the message says the text was cut.
CUT = {
    "repetition": ("OCR stopped early: the model started repeating itself; the text holds what it read before "
                   "the loop / OCR 提前停止：模型开始重复输出，文本为重复之前识别的内容"),
    "max_new_tokens": ("OCR stopped early: the text reached OCR_MAX_NEW_TOKENS and may be incomplete / "
                       "OCR 提前停止：输出达到 OCR_MAX_NEW_TOKENS 上限，文本可能不完整"),
}


def current_results() -> ResultStore:
    return current_app.extensions["results"]


def run_ocr(data: bytes, prompt: str, save_to_file: bool, mode: str | None = None) -> dict:
    """The response body of /ocr and /ocr-base64 for one uploaded image."""
    started = time.monotonic()
    runtime = current_runtime()
    task = parse_prompt(prompt)
    image = decode_image(data, current_app.config["MAX_IMAGE_PIXELS"])
    decoded = time.monotonic()
    output = runtime.run(image, task, mode)
    finished = time.monotonic()

    message, output_file = CUT.get(output.finish_reason, COMPLETED), None
    if save_to_file:
        try:
            output_file = current_results().save(output.text, output.output_format)
        except OSError:
            log.exception("Could not save the OCR result in %s", current_results().folder)
            message = NOT_SAVED if message == COMPLETED else f"{message}; {NOT_SAVED}"
    description = runtime.engine.describe()
    return {
        "success": True,
        "message": message,
        "text": output.text,
        "output_file": output_file,
        "engine": description["engine"],
        "model": description["model"],
        "revision": description["revision"],
        "device": description["device"],
        "dtype": description["dtype"],
        "quantization": description["quantization"],
        "mode": output.mode,
        "task": task.name,
        "output_format": output.output_format,
        "finish_reason": output.finish_reason,
        "tokens": output.tokens,
        "image_width": image.width,
        "image_height": image.height,
        "timings": {
            "decode_ms": round((decoded - started) * 1000, 1),
            "ocr_ms": round((finished - decoded) * 1000, 1),
            "total_ms": round((time.monotonic() - started) * 1000, 1),
        },
    }
