"""The OpenAI-compatible API: GET /v1/models and POST /v1/chat/completions (whole or streamed), with OpenAI's error
shape on these routes, so the openai clients, LiteLLM and Open WebUI work with only a base_url."""
from __future__ import annotations

import json
import re
import time

from flask import Blueprint, current_app, g, jsonify, stream_with_context

from deepseek_ocr_api import chat
from deepseek_ocr_api.docs import documented
from deepseek_ocr_api.errors import ApiError, InvalidInput, ModelNotReady, ResultNotFound, register_error_handlers
from deepseek_ocr_api.runtime import current_runtime
from deepseek_ocr_api.schemas import ChatCompletionIn, ChatCompletionOut, ModelListOut, OpenAIErrorOut
from deepseek_ocr_api.settings import current_settings
from deepseek_ocr_api.views.ocr import json_body

bp = Blueprint("openai", __name__, url_prefix="/v1")

ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
               408: "invalid_request_error", 409: "invalid_request_error", 413: "invalid_request_error",
               503: "service_unavailable_error", 507: "insufficient_storage_error"}
OPENAI_ERRORS = {status: (text, OpenAIErrorOut) for status, text in {
    400: "Invalid request: no image, an image that cannot be read, a remote URL, a prompt the engine cannot honour",
    413: "Body over OCR_MAX_UPLOAD_MB", 503: "The engine is loading, or the queue is full (Retry-After)",
    507: "Out of memory"}.items()}


def openai_error(error: ApiError):
    """Any error of these routes in OpenAI's shape, with the status the rest of the API would give."""
    g.error_title = error.error.partition(" / ")[0]
    code = re.sub(r"[^a-z0-9]+", "_", g.error_title.lower()).strip("_")
    message = error.message + (f" ({'; '.join(error.suggestions)})" if error.suggestions else "")
    response = jsonify({"error": {"message": message, "type": ERROR_TYPES.get(error.status_code, "server_error"),
                                  "code": code}})
    response.status_code = error.status_code
    response.headers.update(error.headers)
    return response


register_error_handlers(bp, openai_error)


def served_model() -> str:
    return current_runtime().describe()["model"]


@bp.get("/models")
@documented("openai", "模型列表 (OpenAI)", ok="The model this server serves", response=ModelListOut)
def list_models():
    """OpenAI-compatible: the model being served."""
    runtime = current_runtime()
    return jsonify(ModelListOut().dump({"object": "list", "data": [
        {"id": served_model(), "object": "model", "created": int(time.time()), "owned_by": runtime.engine_name}]}))


@bp.post("/chat/completions")
@documented("openai", "对话补全 (OpenAI)", body=ChatCompletionIn,
            ok="The text of the images, as the model wrote it (application/json), or with stream: true Server-Sent "
               "Events of chat.completion.chunk ending with `data: [DONE]`",
            response={"application/json": {"schema": ChatCompletionOut},
                      "text/event-stream": {"schema": {"type": "string"}}},
            errors=OPENAI_ERRORS)
def chat_completions():
    """OpenAI-compatible chat completion: the images of the user messages read as pages, the text part the prompt.

    Decoding is greedy whatever `temperature` says. With `stream: true` the DeepSeek engine streams its tokens as
    they are generated; the embedded engine reads a page whole and streams its lines once it is read (not tokens).
    """
    body = json_body()
    if not isinstance(body, dict):
        raise InvalidInput("The body must be a JSON object with messages")
    fields = ChatCompletionIn().load(body)
    fields["max_tokens"] = fields["max_tokens"] or fields.pop("max_completion_tokens", None)
    settings = current_settings()
    chat_request = chat.chat_request(fields, settings)
    runtime = current_runtime()
    if runtime.engine.reads_through_queue:
        raise ModelNotReady("This instance has no model (OCR_ENGINE=none): chat completions are answered by an "
                            "instance with an engine", ["Point the client at an instance with OCR_ENGINE=embedded "
                                                        "or deepseek / 请使用带模型的实例"])
    runtime.check_request(chat_request.task, None)  # a 503 or a 400 now, before a stream has begun
    model, created, completion_id = served_model(), int(time.time()), chat.completion_id()
    if fields["stream"]:
        include_usage = bool((fields.get("stream_options") or {}).get("include_usage"))
        events = stream_with_context(chunks(runtime, chat_request, settings, model, created, completion_id,
                                            include_usage))
        return current_app.response_class(events, mimetype="text/event-stream",
                                          headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    answers = chat.complete(runtime, chat_request, settings)
    return jsonify(ChatCompletionOut().dump({
        "id": completion_id, "object": "chat.completion", "created": created, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": chat.join(answers)},
                     "finish_reason": chat.finish_reason(answers), "logprobs": None}],
        "usage": chat.usage(answers), "decoding": "greedy"}))


def chunks(runtime, chat_request, settings, model: str, created: int, completion_id: str, include_usage: bool):
    """chat.completion.chunk events: the role, the text as it comes, the finish reason, usage if asked, [DONE]."""
    def chunk(choices: list, **extra) -> str:
        body = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": choices, **extra}
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    def event(delta: dict, finish_reason: str | None = None) -> str:
        return chunk([{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}])

    yield event({"role": "assistant", "content": ""})
    answers = []
    try:
        for piece in chat.stream(runtime, chat_request, settings):
            if isinstance(piece, chat.PageAnswer):
                answers.append(piece)
            else:
                yield event({"content": piece})
    except ApiError as error:  # mid-stream: the status has gone out, so the error travels as an event
        yield f"data: {openai_error(error).get_data(as_text=True).strip()}\n\n"
        yield "data: [DONE]\n\n"
        return
    yield event({}, chat.finish_reason(answers))
    if include_usage:
        yield chunk([], usage=chat.usage(answers))
    yield "data: [DONE]\n\n"


@bp.route("/<path:unknown>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unknown_route(unknown: str):
    """Unknown /v1 routes answer in OpenAI's shape too."""
    raise ResultNotFound(f"No such endpoint: /v1/{unknown} (this server has /v1/models and /v1/chat/completions)",
                         [])
