"""OCR_ENGINE=openai: pages read by an OpenAI-compatible model server (`vllm serve deepseek-ai/DeepSeek-OCR`,
SGLang, Ollama's deepseek-ocr, or another deepseek-ocr-api's /v1), several in flight at once so that the server
batches them. This service keeps its contract, documents, jobs, boxes, keys and retention in front of it."""
from __future__ import annotations

import base64
import io
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from PIL import Image

from deepseek_ocr_api.engines.base import Engine, Generation, OcrOutput, PageRequest
from deepseek_ocr_api.engines.grounding import parse_grounding
from deepseek_ocr_api.errors import RemoteUnavailable
from deepseek_ocr_api.tasks import TASK_PROMPTS, Task

log = logging.getLogger(__name__)

IMAGE_PLACEHOLDER = "<image>\n"  # DeepSeek's prompts start with it; a chat server puts the image there itself
HEALTH_CACHE_SECONDS = 5.0  # /health asks the model server at most this often
HEALTH_TIMEOUT_SECONDS = 3.0
# OpenAI's finish_reason -> ours: a length cut is the token budget; anything else ended the text.
FINISH_REASONS = {"length": "max_new_tokens"}


@dataclass(frozen=True)
class RemoteSettings:
    base_url: str
    model: str
    api_key: str
    concurrency: int
    timeout: float
    connect_timeout: float
    max_new_tokens: int
    extra_body: dict[str, Any]

    @classmethod
    def from_settings(cls, settings) -> RemoteSettings:
        return cls(base_url=settings.openai_base_url.rstrip("/"), model=settings.openai_model,
                   api_key=settings.openai_api_key, concurrency=settings.openai_concurrency,
                   timeout=settings.openai_timeout, connect_timeout=settings.openai_connect_timeout,
                   max_new_tokens=settings.max_new_tokens, extra_body=json.loads(settings.openai_extra_body))


def data_url(image: Image.Image) -> str:
    """The page as a PNG data URL: lossless, so the model server sees the pixels this server would have read."""
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def chat_prompt(task: Task) -> str:
    """DeepSeek's prompt without its image placeholder, as vLLM's DeepSeek-OCR recipe sends it."""
    return task.prompt.removeprefix(IMAGE_PLACEHOLDER)


class OpenAIEngine(Engine):
    """Each page is one chat completion with a data-URL image; a batch of pages is that many requests in flight."""

    name = "openai"
    supported_tasks = tuple(TASK_PROMPTS) + ("custom",)
    resolution_modes = {"remote": "as the model server reads images (vLLM's DeepSeek-OCR: its own tiling)"}
    default_mode = "remote"

    def __init__(self, settings: RemoteSettings):
        self.settings = settings
        self.max_batch_size = settings.concurrency
        self._client = None
        self._pool: ThreadPoolExecutor | None = None
        self._health_lock = threading.Lock()
        self._health: dict[str, Any] = {"reachable": None, "error": "not checked yet", "checked_at": None}

    def load(self) -> None:
        """The client and its pool; one look at the server, whose absence is logged, not fatal: the server may
        come up later, and until then each page is a 503 that says so."""
        if self._client is not None:
            return
        import openai

        self._client = openai.OpenAI(
            base_url=self.settings.base_url, api_key=self.settings.api_key or "not-needed", max_retries=1,
            timeout=openai.Timeout(self.settings.timeout, connect=self.settings.connect_timeout))
        self._pool = ThreadPoolExecutor(self.settings.concurrency, thread_name_prefix="openai-engine")
        self.check()
        health = self._health
        if health["reachable"]:
            log.info("The model server at %s answers; reading with %s, %d pages in flight", self.settings.base_url,
                     self.settings.model, self.settings.concurrency)
        else:
            log.warning("The model server at %s does not answer yet (%s); pages get a 503 until it does",
                        self.settings.base_url, health["error"])

    def unload(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
        if self._client is not None:
            self._client.close()
        self._client = self._pool = None

    def describe(self) -> dict[str, Any]:
        with self._health_lock:
            health = dict(self._health)
        checked = health["checked_at"]
        return {
            "engine": self.name,
            "model": self.settings.model,
            "revision": None,
            "device": f"remote: {self.settings.base_url}",
            "dtype": "remote",
            "quantization": "remote",
            "attention": None,
            "mode": f"OpenAI-compatible model server, {self.settings.concurrency} pages in flight",
            "default_mode": self.default_mode,
            "resolution_modes": dict(self.resolution_modes),
            "supported_tasks": list(self.supported_tasks),
            "remote": {"base_url": self.settings.base_url, "reachable": health["reachable"],
                       "error": health["error"],
                       "checked_seconds_ago": None if checked is None else round(time.monotonic() - checked, 1)},
        }

    def check(self) -> None:
        """Whether the model server answers GET /models and serves OCR_OPENAI_MODEL; asked at most every few
        seconds (by /health; pages note what they find themselves)."""
        with self._health_lock:
            checked = self._health["checked_at"]
            if self._client is None or (checked is not None and time.monotonic() - checked < HEALTH_CACHE_SECONDS):
                return
        reachable, error = False, None
        try:
            served = [model.id for model in self._client.with_options(
                timeout=HEALTH_TIMEOUT_SECONDS, max_retries=0).models.list()]
        except Exception as exc:  # any failure to answer is the answer
            error = describe_failure(exc)
        else:
            reachable = True
            if served and self.settings.model not in served:
                error = (f"the server does not serve {self.settings.model!r} (it serves "
                         f"{', '.join(served[:5])}); set OCR_OPENAI_MODEL")
        self._noted(reachable and error is None, error)

    def _noted(self, reachable: bool, error: str | None) -> None:
        with self._health_lock:
            self._health = {"reachable": reachable, "error": error, "checked_at": time.monotonic()}

    def infer(self, image: Image.Image, task: Task, mode: str, generation: Generation | None = None) -> OcrOutput:
        return self._read(PageRequest(image, task, mode, generation))

    def infer_batch(self, pages: list[PageRequest]) -> list[OcrOutput | Exception]:
        """All pages in flight at once; a page whose request failed gets its 503, the others their text."""
        futures = [self._pool.submit(self._read, page) for page in pages]
        outcomes: list[OcrOutput | Exception] = []
        for future in futures:
            try:
                outcomes.append(future.result())
            except RemoteUnavailable as exc:
                outcomes.append(exc)
        return outcomes

    def _read(self, page: PageRequest) -> OcrOutput:
        generation = page.generation or Generation()
        max_tokens = min(self.settings.max_new_tokens, generation.max_new_tokens or self.settings.max_new_tokens)
        messages = [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": data_url(page.image)}},
            {"type": "text", "text": chat_prompt(page.task)}]}]
        try:
            if generation.on_text is None:
                text, finish, usage = self._complete(messages, max_tokens)
            else:
                text, finish, usage = self._stream(messages, max_tokens, generation)
        except RemoteUnavailable:
            raise
        except Exception as exc:
            self._noted(False, describe_failure(exc))
            raise RemoteUnavailable(f"The model server at {self.settings.base_url} could not read the page: "
                                    f"{describe_failure(exc)}") from exc
        self._noted(True, None)
        plain, blocks = parse_grounding(text, page.image.width, page.image.height)
        tokens = {"prompt": getattr(usage, "prompt_tokens", None), "vision": None,
                  "generated": getattr(usage, "completion_tokens", None)}
        return OcrOutput(plain, page.mode, FINISH_REASONS.get(finish, "complete"), tokens, blocks, raw=text.strip())

    def _complete(self, messages, max_tokens: int):
        response = self._client.chat.completions.create(
            model=self.settings.model, messages=messages, max_tokens=max_tokens, temperature=0.0,
            extra_body=self.settings.extra_body or None)
        if not response.choices:
            raise RemoteUnavailable(f"The model server at {self.settings.base_url} answered without a choice")
        choice = response.choices[0]
        return choice.message.content or "", choice.finish_reason, response.usage

    def _stream(self, messages, max_tokens: int, generation: Generation):
        """Streamed, each piece handed on as it comes; a cancelled generation closes the stream, which a model
        server takes as the client going away (vLLM aborts the request)."""
        pieces, finish, usage = [], None, None
        stream = self._client.chat.completions.create(
            model=self.settings.model, messages=messages, max_tokens=max_tokens, temperature=0.0, stream=True,
            stream_options={"include_usage": True}, extra_body=self.settings.extra_body or None)
        with stream:
            for chunk in stream:
                if generation.cancelled.is_set():
                    break
                usage = chunk.usage or usage
                if not chunk.choices:
                    continue
                delta = chunk.choices[0].delta.content
                if delta:
                    pieces.append(delta)
                    generation.on_text(delta)
                finish = chunk.choices[0].finish_reason or finish
        return "".join(pieces), finish, usage


def describe_failure(exc: BaseException) -> str:
    """A model server's failure in a line: the HTTP status and its message, a timeout, or a refused connection."""
    import openai

    if isinstance(exc, openai.APIStatusError):
        try:
            detail = exc.response.json()
            message = (detail.get("error") or {}).get("message") if isinstance(detail, dict) else None
        except ValueError:
            message = None
        return f"HTTP {exc.status_code}: {message or exc.message}"
    if isinstance(exc, openai.APITimeoutError):
        return "no answer within OCR_OPENAI_TIMEOUT"
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        return f"cannot connect ({type(cause).__name__ if cause else 'connection error'})"
    return f"{type(exc).__name__}: {exc}"
