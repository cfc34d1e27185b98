"""The engine's life in the worker: loaded in the background, one inference at a time, state for /health."""
from __future__ import annotations

import gc
import logging
import math
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

from flask import Flask, current_app
from PIL import Image

from deepseek_ocr_api.engines import Engine, OcrOutput, build_engine
from deepseek_ocr_api.config import Defaults
from deepseek_ocr_api.errors import ModelNotReady, OutOfProcessMemory, ServerBusy
from deepseek_ocr_api.tasks import Task

log = logging.getLogger(__name__)

LOADING, READY, FAILED = "loading", "ready", "failed"


@dataclass(eq=False)
class DocumentProgress:
    """Pages read so far of one request in flight."""

    pages_total: int = 0  # known once the upload is decoded
    pages_done: int = 0


class OcrRuntime:
    """Flask extension owning the engine; stored in `app.extensions["ocr"]`."""

    def __init__(self, app: Flask | None = None, engine: Engine | None = None):
        self.engine = engine
        self.selection = "given by the application" if engine is not None else None
        self.state = LOADING
        self.error: str | None = None
        self.load_seconds: float | None = None
        self.documents: list[DocumentProgress] = []  # requests being read or waiting, with their pages done
        self.queue_depth = Defaults.QUEUE_DEPTH
        self.page_seconds = 2.0  # moving average of one page, for Retry-After when the queue is full
        self._inference = threading.Lock()
        self._counter = threading.Lock()
        self._settled = threading.Event()
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        self.queue_depth = int(app.config["QUEUE_DEPTH"])
        if int(app.config["THREADS"]) <= self.queue_depth + 1:
            log.warning("OCR_THREADS=%s is not above OCR_QUEUE_DEPTH + 1 = %d: with the OCR queue full, /health "
                        "and downloads wait for a free thread", app.config["THREADS"], self.queue_depth + 1)
        if self.engine is None:
            self.engine, self.selection = build_engine(app.config)
        app.extensions["ocr"] = self
        threading.Thread(target=self._load, name="engine-loader", daemon=True).start()

    def _load(self) -> None:
        started = time.monotonic()
        log.info("Loading the %s engine", self.engine.name)
        try:
            self.engine.load()
        except Exception as exc:  # the server keeps running and says why on /health and in every 503
            log.exception("The %s engine failed to load", self.engine.name)
            self.error = f"{type(exc).__name__}: {exc}"
            self.state = FAILED
        else:
            self.load_seconds = round(time.monotonic() - started, 2)
            self.state = READY
        finally:
            self._settled.set()

    def retry_load(self) -> bool:
        """After a failed load (weights missing, GPU busy), load again in the background; False if not failed."""
        with self._counter:
            if self.state != FAILED:
                return False
            self.state, self.error = LOADING, None
            self._settled.clear()
        log.info("Retrying the %s engine's load", self.engine.name)
        threading.Thread(target=self._load, name="engine-loader", daemon=True).start()
        return True

    def wait_until_settled(self, timeout: float | None = None) -> bool:
        """Block until loading has finished, one way or the other."""
        return self._settled.wait(timeout)

    def run(self, image: Image.Image, task: Task, mode: str | None = None) -> OcrOutput:
        """Read one image; raises ModelNotReady before the engine is loaded and OutOfMemory when memory runs out."""
        self._require_ready()
        self.engine.check_task(task)
        mode = self.engine.resolve_mode(mode)
        try:
            with self._inference:
                self._require_ready()
                started = time.monotonic()
                output = self.engine.infer(image, task, mode)
                self.page_seconds = 0.8 * self.page_seconds + 0.2 * (time.monotonic() - started)
                return output
        except MemoryError as exc:
            self.engine.release_memory()
            gc.collect()
            raise OutOfProcessMemory("The OCR process ran out of memory") from exc

    def release_memory(self) -> None:
        """Have the engine give back caches and arenas, unless a page is being read (then the last request to
        finish does it)."""
        if not self._inference.acquire(blocking=False):
            return
        try:
            self.engine.release_memory()
        finally:
            self._inference.release()

    @contextmanager
    def document(self) -> Iterator["DocumentProgress"]:
        """A place in the queue for one request, from before its upload is decoded until it is read; its pages
        are tracked for /health. ServerBusy (503) when the queue is full."""
        progress = DocumentProgress()
        with self._counter:
            if len(self.documents) > self.queue_depth:
                waiting = sum(d.pages_total - d.pages_done for d in self.documents)
                raise ServerBusy(
                    f"{len(self.documents)} requests are being read or waiting, the most this server queues "
                    f"(OCR_QUEUE_DEPTH={self.queue_depth}); try again in a few seconds",
                    headers={"Retry-After": str(max(1, math.ceil(waiting * self.page_seconds)))})
            self.documents.append(progress)
        try:
            yield progress
        finally:
            with self._counter:
                self.documents.remove(progress)
                idle = not self.documents
            if idle:
                # Memory goes back when the server falls idle, not after every page: memory the OS took back
                # must be faulted in again, which cost busy servers 10-20% per page.
                self.release_memory()

    def _require_ready(self) -> None:
        if self.state == LOADING:
            raise ModelNotReady(f"The {self.engine.name} engine is still loading; try again in a few seconds",
                                headers={"Retry-After": "5"})
        if self.state == FAILED:
            raise ModelNotReady(
                f"The {self.engine.name} engine failed to load: {self.error}",
                ["Check the server log / 查看服务器日志", "Fix the configuration and restart / 修正配置后重启"],
            )

    def describe(self) -> dict[str, Any]:
        """Engine, model, device, mode and load state, as / and /health report them."""
        with self._counter:
            documents = [{"pages_done": d.pages_done, "pages_total": d.pages_total} for d in self.documents]
        return {**self.engine.describe(), "engine_selection": self.selection,
                "engine_state": self.state, "engine_error": self.error,
                "load_seconds": self.load_seconds, "requests_in_flight": len(documents),
                "progress": self.engine.progress(), "documents_in_flight": documents}


def current_runtime() -> OcrRuntime:
    """The runtime of the app serving this request."""
    return current_app.extensions["ocr"]
