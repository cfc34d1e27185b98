"""OpenAI chat completions over the engine: the messages' images (data URLs, bare base64, PDFs, allowed http(s)
hosts) read as pages, in order, with the prompt as the task; the answer is the model's raw text, as vLLM returns it
for DeepSeek-OCR. The view in views/openai.py gives it the OpenAI shape, streamed or whole."""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from PIL import Image

from deepseek_ocr_api.engines.base import Generation, OcrOutput
from deepseek_ocr_api.engines.grounding import grounding_text
from deepseek_ocr_api.errors import InvalidInput
from deepseek_ocr_api.images import decode_base64
from deepseek_ocr_api.runtime import OcrRuntime
from deepseek_ocr_api.service import PAGE_SEPARATOR, open_document
from deepseek_ocr_api.settings import Settings
from deepseek_ocr_api.tasks import Task, parse_prompt

# finish_reason of a page -> OpenAI's. The repetition guard stops a loop the way a stop sequence would.
FINISH_REASONS = {"complete": "stop", "repetition": "stop", "max_new_tokens": "length"}


@dataclass
class ChatRequest:
    """What a chat completion asks for, checked."""

    task: Task
    prompt_text: str
    sources: list[bytes]  # each an image, a PDF or a TIFF
    max_tokens: int | None = None
    stop: list[str] = field(default_factory=list)


@dataclass
class PageAnswer:
    """One page's share of the answer."""

    text: str
    finish_reason: str  # OpenAI's: stop or length
    prompt_tokens: int
    completion_tokens: int
    hit_stop: bool = False  # a stop string ended it: no further page is read


def chat_request(body: dict[str, Any], settings: Settings) -> ChatRequest:
    """The images and the prompt of the user messages, in order; InvalidInput (400) for what cannot be read."""
    texts, sources = [], []
    for message in body["messages"]:
        if not isinstance(message, dict) or message.get("role") != "user":
            continue  # system and assistant turns say nothing to an OCR model
        content = message.get("content")
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if not isinstance(parts, list):
            raise InvalidInput("A user message's content must be a string or a list of parts")
        for part in parts:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif kind == "image_url":
                url = part.get("image_url")
                url = url.get("url") if isinstance(url, dict) else url
                if not isinstance(url, str) or not url.strip():
                    raise InvalidInput("An image_url part needs a url: a data: URL or base64")
                sources.append(image_bytes(url.strip(), settings))
            else:
                raise InvalidInput(f"Unsupported content part {kind!r}: send text and image_url parts")
    if not sources:
        raise InvalidInput("No image in the user messages: add an image_url part (a data: URL or base64)",
                           ["{\"type\": \"image_url\", \"image_url\": {\"url\": \"data:image/png;base64,...\"}}"])
    prompt_text = "\n".join(text for text in texts if text.strip())
    stop = body.get("stop") or []
    return ChatRequest(parse_prompt(prompt_text), prompt_text, sources, body.get("max_tokens"),
                       [stop] if isinstance(stop, str) else list(stop))


def image_bytes(url: str, settings: Settings) -> bytes:
    """The bytes behind an image_url: a data: URL or bare base64; an http(s) URL only from OCR_FETCH_ALLOW_HOSTS."""
    if url.lower().startswith(("http://", "https://")):
        host = (urlsplit(url).hostname or "").lower()
        if host not in {allowed.lower() for allowed in settings.fetch_allow_hosts}:
            raise InvalidInput(f"This server does not fetch images from {host or 'that URL'}: send the image itself, "
                               "as a data: URL or base64",
                               ["Send data:image/png;base64,... / 请以 data: URL 或 base64 发送图片",
                                "An operator may allow a host with OCR_FETCH_ALLOW_HOSTS"])
        return fetch(url, settings)
    if url.lower().startswith("data:") and ";base64," not in url[:200].lower():
        raise InvalidInput("A data: URL must be base64-encoded (data:image/png;base64,...)")
    return decode_base64(url)


def fetch(url: str, settings: Settings) -> bytes:
    """GET an allowed image, within OCR_FETCH_MAX_MB and OCR_FETCH_TIMEOUT; redirects are not followed."""
    limit = int(settings.fetch_max_mb * 2**20)
    try:
        with requests.get(url, stream=True, timeout=settings.fetch_timeout, allow_redirects=False) as response:
            if response.status_code != 200:
                raise InvalidInput(f"Fetching the image answered {response.status_code}")
            data = b""
            for chunk in response.iter_content(65536):
                data += chunk
                if len(data) > limit:
                    raise InvalidInput(f"The image at that URL is over OCR_FETCH_MAX_MB={settings.fetch_max_mb:g}")
            return data
    except requests.RequestException as exc:
        raise InvalidInput(f"The image could not be fetched: {type(exc).__name__}") from exc


def pages(request: ChatRequest, settings: Settings) -> Iterator[Image.Image]:
    """Every page of every source, in order; each source is checked whole before its first page is read."""
    for data in request.sources:
        with closing(open_document(data, None, settings)) as document:
            for number in document.numbers:
                yield document.render(number)


def answer_text(output: OcrOutput, task: Task, image: Image.Image) -> str:
    """The model's raw text: grounding tags included when the prompt asked for grounding (written from the boxes
    for an engine that reads boxes without tags)."""
    if output.raw is not None:
        return output.raw.strip()
    if task.grounding and output.blocks:
        return grounding_text(output.blocks, image.width, image.height)
    return output.text


def bounded(text: str, finish_reason: str, request: ChatRequest, counted_by_tokens: bool) -> tuple[str, str, bool]:
    """The text cut at the first stop string (and whether there was one), and for engines without tokens at
    max_tokens characters."""
    cut = stop_at(text, request)
    if cut < len(text):
        return text[:cut], "stop", True
    if not counted_by_tokens and request.max_tokens is not None and len(text) > request.max_tokens:
        return text[:request.max_tokens], "length", False
    return text, finish_reason, False


def read_page(runtime: OcrRuntime, image: Image.Image, request: ChatRequest, mode: str,
              generation: Generation) -> PageAnswer:
    output = runtime.run(image, request.task, mode, generation)
    generated = output.tokens.get("generated")
    text, finish_reason, hit_stop = bounded(answer_text(output, request.task, image),
                                            FINISH_REASONS.get(output.finish_reason, "stop"), request,
                                            generated is not None)
    if generated is None:  # no tokens: characters, as the README says
        return PageAnswer(text, finish_reason, len(request.prompt_text), len(text), hit_stop)
    return PageAnswer(text, finish_reason, output.tokens.get("prompt") or 0, generated, hit_stop)


def complete(runtime: OcrRuntime, request: ChatRequest, settings: Settings) -> list[PageAnswer]:
    """Every page read, whole."""
    with runtime.document() as progress:
        mode = runtime.check_request(request.task, None)
        answers = []
        for image in pages(request, settings):
            answers.append(read_page(runtime, image, request, mode, Generation(request.max_tokens)))
            progress.pages_done += 1
            if answers[-1].hit_stop:
                break
        return answers


def join(answers: list[PageAnswer]) -> str:
    return PAGE_SEPARATOR.join(answer.text for answer in answers)


def stream(runtime: OcrRuntime, request: ChatRequest, settings: Settings) -> Iterator[str | PageAnswer]:
    """The answer as it is made: pieces of text, then each page's PageAnswer once it is read. Tokens as they are
    generated where the engine streams (DeepSeek); a page's lines once it is read where it does not (embedded).
    Closing the iterator (the client went away) stops the generation."""
    cancelled = threading.Event()
    try:
        with runtime.document() as progress:
            mode = runtime.check_request(request.task, None)
            for index, image in enumerate(pages(request, settings)):
                if index:
                    yield PAGE_SEPARATOR
                pieces: queue.Queue[str] = queue.Queue()
                generation = Generation(request.max_tokens, pieces.put, cancelled)
                outcome: dict[str, Any] = {}

                def read(image=image, generation=generation, outcome=outcome):
                    try:
                        outcome["answer"] = read_page(runtime, image, request, mode, generation)
                    except BaseException as exc:  # handed to the request thread, which raises it
                        outcome["error"] = exc

                reader = threading.Thread(target=read, name="chat-page", daemon=True)
                reader.start()
                sent, stopped = "", False
                while reader.is_alive() or not pieces.empty():
                    try:
                        piece = pieces.get(timeout=0.05)
                    except queue.Empty:
                        continue
                    if stopped:
                        continue  # what the engine made before it saw the cancellation
                    cut = stop_at(sent + piece, request)
                    if cut < len(sent) + len(piece):  # a stop string: the answer ends before it
                        piece, stopped = (sent + piece)[len(sent):cut], True
                        cancelled.set()
                    if piece:
                        sent += piece
                        yield piece
                reader.join()
                if "error" in outcome:
                    raise outcome["error"]
                answer = outcome["answer"]
                if not sent:  # the engine reads a page whole: its lines, as soon as the page is read
                    lines = answer.text.split("\n")
                    for number, line in enumerate(lines):
                        yield line + ("\n" if number < len(lines) - 1 else "")
                progress.pages_done += 1
                yield answer
                if stopped or answer.hit_stop:
                    return
    finally:
        cancelled.set()


def stop_at(text: str, request: ChatRequest) -> int:
    """Where the first stop string begins in `text`; its length when there is none."""
    found = [text.index(stop) for stop in request.stop if stop and stop in text]
    return min(found) if found else len(text)


def usage(answers: list[PageAnswer]) -> dict[str, int]:
    prompt = sum(answer.prompt_tokens for answer in answers)
    completion = sum(answer.completion_tokens for answer in answers)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def finish_reason(answers: list[PageAnswer]) -> str:
    return next((answer.finish_reason for answer in answers if answer.finish_reason != "stop"), "stop")


def completion_id() -> str:
    return f"chatcmpl-{time.time_ns():x}"

