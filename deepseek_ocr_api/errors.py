"""The API's errors: one base class, one JSON body `{"detail": {error, message, suggestions}}` for all."""
from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Blueprint, Flask, Response, g, jsonify
from marshmallow import ValidationError
from werkzeug.exceptions import ClientDisconnected, HTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error a client sees: status code, bilingual `error`, a `message` and `suggestions`."""

    status_code = 500
    error = "Internal server error / 服务器内部错误"
    suggestions: tuple[str, ...] = ()

    def __init__(self, message: str, suggestions: list[str] | tuple[str, ...] | None = None,
                 headers: dict[str, str] | None = None, error: str | None = None):
        super().__init__(message)
        self.message = message
        if error is not None:
            self.error = error
        if suggestions is not None:
            self.suggestions = tuple(suggestions)
        self.headers = headers or {}

    def body(self) -> dict:
        return {"detail": {"error": self.error, "message": self.message, "suggestions": list(self.suggestions)}}


class InvalidInput(ApiError):
    status_code = 400
    error = "Invalid input / 输入无效"
    suggestions = ("Check the request fields against /docs / 请对照 /docs 检查请求字段",)


class InvalidImage(InvalidInput):
    error = "Invalid image / 图片无效"
    suggestions = (
        "Send a PNG, JPEG, TIFF, BMP, WebP or GIF image, or a PDF / 请发送 PNG、JPEG、TIFF、BMP、WebP、GIF 图片或 PDF",
        "Check that the file is complete and not corrupted / 检查文件是否完整、未损坏",
    )


class UnsupportedTask(InvalidInput):
    error = "Unsupported prompt / 不支持的提示词"


class RemoteUnavailable(ApiError):
    """OCR_ENGINE=openai: the model server is down, too slow, or answered with an error."""

    status_code = 503
    error = "Model server unavailable / 模型服务器不可用"
    suggestions = ("Try again shortly / 稍后重试",
                   "Check that the model server (OCR_OPENAI_BASE_URL) is running / 检查模型服务器 (OCR_OPENAI_BASE_URL) 是否运行")

    def __init__(self, message: str):
        super().__init__(message, headers={"Retry-After": "10"})


class ResultNotFound(ApiError):
    status_code = 404
    error = "Not found / 资源未找到"
    suggestions = ("Use the output_file name returned by /ocr or /ocr-base64 / 使用 /ocr 或 /ocr-base64 返回的 output_file 文件名",)


class JobNotFound(ResultNotFound):
    suggestions = ("Use the job_id returned by POST /jobs, with the API key it was made with / "
                   "使用 POST /jobs 返回的 job_id 及创建它时的 API 密钥",
                   "Finished jobs are removed after OCR_JOBS_MAX_AGE / 已完成的任务在 OCR_JOBS_MAX_AGE 后删除")


class JobConflict(ApiError):
    """The job is not in a state that allows what was asked (its result before it is done, cancelling a finished job)."""

    status_code = 409
    error = "Conflict / 状态冲突"
    suggestions = ("Check the job's status with GET /jobs/{job_id} / 用 GET /jobs/{job_id} 查看任务状态",)


class PayloadTooLarge(ApiError):
    status_code = 413
    error = "Request too large / 请求过大"
    suggestions = ("Reduce image size / 减小图片尺寸", "Compress the image (JPEG or WebP) / 压缩图片（JPEG 或 WebP）")


class ModelNotReady(ApiError):
    status_code = 503
    error = "Model not loaded / 模型未加载"
    suggestions = ("Wait until /health reports model_loaded: true / 等待 /health 显示 model_loaded: true",)


class Unauthorized(ApiError):
    status_code = 401
    error = "Unauthorized / 未授权"
    suggestions = ("Send the key as X-API-Key: <key> or Authorization: Bearer <key> / "
                   "通过 X-API-Key 或 Authorization: Bearer 发送密钥",)


class ServerBusy(ApiError):
    status_code = 503
    error = "Server busy / 服务器繁忙"
    suggestions = ("Retry after the number of seconds in Retry-After / 按 Retry-After 的秒数后重试",)


class OutOfMemory(ApiError):
    status_code = 507
    error = "GPU out of memory / GPU 内存不足"
    suggestions = (
        "Reduce image size / 减小图片尺寸",
        "Close all other GPU applications / 关闭其他 GPU 应用程序",
        "Restart the API server / 重启 API 服务器",
    )


class JobStorageFull(ApiError):
    status_code = 507
    error = "Insufficient storage / 存储空间不足"
    suggestions = ("Wait for queued jobs to finish, then submit again / 等待排队任务完成后再提交",
                   "Raise OCR_JOBS_MAX_BYTES / 调高 OCR_JOBS_MAX_BYTES")


class OutOfProcessMemory(OutOfMemory):
    """The process's own memory (RAM), not a GPU's, ran out."""

    error = "Out of memory / 内存不足"
    suggestions = (
        "Reduce image size / 减小图片尺寸",
        "Lower OCR_MAX_PAGE_SIDE or OCR_PDF_DPI / 降低 OCR_MAX_PAGE_SIDE 或 OCR_PDF_DPI",
        "Close other programs using memory / 关闭其他占用内存的程序",
    )


class IncompleteRequest(ApiError):
    status_code = 408
    error = "Request timeout / 请求超时"
    suggestions = ("Send the whole request without pausing / 请连续发送完整请求",
                   "Upload a smaller file on a slow connection / 网络较慢时请上传较小的文件")


def http_error(exc: HTTPException) -> ApiError:
    """Werkzeug's errors (unknown route, wrong method, body too large) in the contract's shape."""
    if exc.code == 404:
        return ResultNotFound("No such endpoint or resource", ["See GET / for the list of endpoints / 查看 GET / 获取端点列表"])
    if exc.code == 413:
        return PayloadTooLarge(exc.description or "The request body is larger than the configured limit")
    if isinstance(exc, ClientDisconnected):
        return IncompleteRequest("The request body stopped arriving before it was complete: the client went quiet "
                                 "for longer than OCR_CLIENT_IDLE_TIMEOUT, took longer than OCR_CLIENT_READ_TIMEOUT, "
                                 "or disconnected")
    error = ApiError(exc.description or exc.name, ["See /docs / 查看 /docs"])
    error.status_code = exc.code or 500
    error.error = f"{exc.name} / 请求错误" if error.status_code < 500 else ApiError.error
    return error


def _respond(error: ApiError):
    g.error_title = error.error.partition(" / ")[0]  # for the request's log line: why, never the client's data
    response = jsonify(error.body())
    response.status_code = error.status_code
    response.headers.update(error.headers)
    return response


def register_error_handlers(target: Flask | Blueprint, respond: Callable[[ApiError], Response] = _respond) -> None:
    """Every failure, ours or a library's, leaves as one JSON error body: the contract's, or for a blueprint with
    its own shape (the OpenAI routes) what its `respond` makes of the same ApiError."""

    @target.errorhandler(ApiError)
    def handle_api_error(exc: ApiError):
        return respond(exc)

    @target.errorhandler(ValidationError)
    def handle_validation_error(exc: ValidationError):
        fields = exc.normalized_messages()
        problems = [f"{name}: {'; '.join(map(str, messages)) if isinstance(messages, list) else messages}"
                    for name, messages in fields.items()] if isinstance(fields, dict) else [str(fields)]
        return respond(InvalidInput("Invalid request fields: " + ", ".join(problems)))

    @target.errorhandler(HTTPException)
    def handle_http_exception(exc: HTTPException):
        return respond(http_error(exc))

    @target.errorhandler(Exception)
    def handle_unexpected(exc: Exception):
        log.exception("Unhandled error while serving a request")
        return respond(ApiError("The server hit an unexpected error; it has been logged",
                                ["Try again / 请重试", "Check the server log / 查看服务器日志"]))
