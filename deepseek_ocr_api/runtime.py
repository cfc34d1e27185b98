"""The one door to the engine: loaded in the background, one inference at a time, its queue, memory and state.
Views, and later the job queue and other protocols, talk to the engine only through `current_runtime()`."""
from __future__ import annotations

import gc
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app
from PIL import Image

from deepseek_ocr_api.engines import Engine, OcrOutput, build_engine
from deepseek_ocr_api.engines.base import Generation, PageRequest
from deepseek_ocr_api.errors import ModelNotReady, OutOfMemory, OutOfProcessMemory, ServerBusy
from deepseek_ocr_api.memory import resident_memory_mb, trim_heap
from deepseek_ocr_api.tasks import Task

log = logging.getLogger(__name__)

LOADING, READY, FAILED = "loading", "ready", "failed"


@dataclass(eq=False)
class DocumentProgress:
    """Pages read so far of one request in flight."""

    pages_total: int = 0  # known once the upload is decoded
    pages_done: int = 0


@dataclass(eq=False)
class PageWork:
    """A page handed to the runtime and waiting to be read, alone or in a batch; then its output or error."""

    request: PageRequest
    done: threading.Event = field(default_factory=threading.Event)
    output: OcrOutput | None = None
    error: BaseException | None = None

    def finish(self, output: OcrOutput) -> None:
        self.output = output
        self.done.set()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.done.set()


@dataclass(frozen=True)
class CleanupReport:
    """What a cleanup freed: the process's resident memory and the GPU figures, before and after."""

    process_mb_before: float
    process_mb_after: float
    gpu_before: dict[str, str | None]
    gpu_after: dict[str, str | None]
    objects_collected: int
    reloading: bool  # a failed engine load was started again


def out_of_memory_error(memory: str, image: Image.Image, mode: str) -> OutOfMemory:
    """The one translation of an engine's out-of-memory failure into the 507 a client sees."""
    where = f"reading a {image.width}x{image.height} image at mode {mode!r}"
    if memory == "RAM":
        return OutOfProcessMemory(f"The OCR process ran out of memory (RAM) {where}")
    return OutOfMemory(
        f"The OCR process exceeded available {memory} memory {where}",
        ["Reduce image size / 减小图片尺寸",
         "Use a smaller resolution mode (mode=base or small) / 使用更小的分辨率模式",
         "Close all other GPU applications / 关闭其他 GPU 应用程序",
         "Set OCR_QUANTIZATION=8bit or 4bit / 启用 8bit 或 4bit 量化",
         "Restart the API server / 重启 API 服务器"],
    )


class OcrRuntime:
    """Flask extension owning the engine; stored in `app.extensions["ocr"]`, reached through `current_runtime()`."""

    def __init__(self, engine: Engine | None = None):
        self.engine = engine
        self.selection = "given by the application" if engine is not None else None
        self.state = LOADING
        self.error: str | None = None
        self.load_seconds: float | None = None
        self.documents: list[DocumentProgress] = []  # requests being read or waiting, with their pages done
        self.queue_depth = 0
        self.page_seconds = 2.0  # moving average of one page, for Retry-After when the queue is full
        # Called after every page with (engine, mode, outcome, seconds, tokens generated): the metrics listen.
        self.page_listeners: list[Callable[[str, str, str, float, int | None], None]] = []
        self.batch_wait = 0.0  # seconds a batch waits to fill (OCR_BATCH_WAIT_MS)
        self.batch_in_flight = 0  # pages of the batch being read now
        self._waiting: list[PageWork] = []  # pages handed in and not yet taken into a batch
        self._leading = False  # a thread is taking or reading a batch; the others wait for their pages
        self._batches = threading.Condition()
        self._inference = threading.Lock()
        self._counter = threading.Lock()
        self._settled = threading.Event()

    def init_app(self, app: Flask, settings) -> None:
        self.queue_depth = settings.queue_depth
        self.batch_wait = settings.batch_wait_ms / 1000
        if settings.threads <= self.queue_depth + 1:
            log.warning("OCR_THREADS=%s is not above OCR_QUEUE_DEPTH + 1 = %d: with the OCR queue full, /health "
                        "and downloads wait for a free thread", settings.threads, self.queue_depth + 1)
        if self.engine is None:
            self.engine, self.selection = build_engine(settings)
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
        self.engine.unload()  # whatever the failed load left half-built
        log.info("Retrying the %s engine's load", self.engine.name)
        threading.Thread(target=self._load, name="engine-loader", daemon=True).start()
        return True

    def wait_until_settled(self, timeout: float | None = None) -> bool:
        """Block until loading has finished, one way or the other."""
        return self._settled.wait(timeout)

    def wait_until_idle(self, timeout: float) -> bool:
        """Whether the engine is free (no page being read) within `timeout` seconds."""
        if not self._inference.acquire(timeout=timeout):
            return False
        self._inference.release()
        return True

    @property
    def ready(self) -> bool:
        return self.state == READY

    @property
    def engine_name(self) -> str:
        return self.engine.name

    def check_request(self, task: Task, mode: str | None) -> str:
        """Before any upload is decoded: ModelNotReady (503) until loaded, a 400 for a task or mode this engine
        lacks; the resolution mode the pages will be read at."""
        self._require_ready()
        return self.check_task(task, mode)

    def check_task(self, task: Task, mode: str | None) -> str:
        """check_request without waiting for the engine: for jobs, which may queue while it loads."""
        self.engine.check_task(task)
        return self.engine.resolve_mode(mode)

    @property
    def batch_limit(self) -> int:
        """The most pages read together: the engine's batch size (OCR_BATCH_SIZE, OCR_OPENAI_CONCURRENCY)."""
        return max(1, self.engine.max_batch_size)

    def run(self, image: Image.Image, task: Task, mode: str | None = None,
            generation: Generation | None = None) -> OcrOutput:
        """Read one image; raises ModelNotReady before the engine is loaded and OutOfMemory (507) when the
        engine's memory runs out. `generation` streams the text and bounds it, where the engine can."""
        return self.result(self.submit(image, task, mode, generation))

    def submit(self, image: Image.Image, task: Task, mode: str | None = None,
               generation: Generation | None = None) -> PageWork:
        """Hand in a page to be read with whatever else is waiting; `result` waits for it. Pages handed in together
        (a document's next pages) are read in one batch, up to `batch_limit` of one resolution mode."""
        work = PageWork(PageRequest(image, task, self.check_request(task, mode), generation))
        with self._batches:
            self._waiting.append(work)
            self._batches.notify_all()
        return work

    def withdraw(self, works: list[PageWork]) -> None:
        """Take back pages not yet taken into a batch (their request failed or went away)."""
        with self._batches:
            self._waiting = [work for work in self._waiting if work not in works]

    def result(self, work: PageWork) -> OcrOutput:
        """The page's output once read; its error (OutOfMemory for that page alone, ModelNotReady, ...) raised."""
        self._serve(work)
        if work.error is not None:
            raise work.error
        return work.output

    def _serve(self, work: PageWork) -> None:
        """Wait until `work` is read. The first thread to find the engine free leads: it takes its own page and the
        oldest waiting pages of the same mode, waits up to OCR_BATCH_WAIT_MS for the batch to fill, and reads it."""
        with self._batches:
            while not work.done.is_set() and self._leading:
                self._batches.wait()
            if work.done.is_set():
                return
            self._leading = True
            try:
                batch = self._take_batch(work)
            except BaseException:
                self._leading = False
                self._batches.notify_all()
                raise
        try:
            self._read(batch)
        finally:
            with self._batches:
                self._leading = False
                self._batches.notify_all()

    def _take_batch(self, work: PageWork) -> list[PageWork]:
        """`work` and up to batch_limit - 1 other waiting pages of its mode, oldest first (called leading)."""
        limit, mode = self.batch_limit, work.request.mode
        deadline = time.monotonic() + self.batch_wait
        while True:
            others = [other for other in self._waiting if other is not work and other.request.mode == mode]
            batch = [work, *others[:limit - 1]]
            remaining = deadline - time.monotonic()
            if len(batch) >= limit or remaining <= 0:
                break
            self._batches.wait(remaining)
        self._waiting = [other for other in self._waiting if other not in batch]
        return batch

    def _read(self, batch: list[PageWork]) -> None:
        """Read a batch; every page of it ends done, with its output or its error."""
        try:
            with self._inference:
                self._require_ready()
                self._read_together(batch)
        except BaseException as exc:  # ModelNotReady, or a failure outside the engine: the pages get it
            for work in batch:
                if not work.done.is_set():
                    work.fail(exc)
            if not isinstance(exc, Exception):
                raise

    def _read_together(self, batch: list[PageWork]) -> None:
        """One engine call for the batch. If it fails as a whole (out of memory, most likely), its pages are read
        one at a time; a single page that still fails gets its error (507 for memory) and the others go on."""
        mode = batch[0].request.mode
        started = time.monotonic()
        self.batch_in_flight = len(batch)
        try:
            outputs = self.engine.infer_batch([work.request for work in batch])
        except Exception as exc:  # MemoryError is an Exception too
            failure = exc
        else:
            failure = None
        finally:
            self.batch_in_flight = 0
        seconds = time.monotonic() - started
        if failure is None:
            self.page_seconds = 0.8 * self.page_seconds + 0.2 * seconds / len(batch)
            for work, output in zip(batch, outputs, strict=True):
                if isinstance(output, Exception):
                    self._page_read(mode, "error", seconds, None)
                    work.fail(output)
                else:
                    output.batch_size = len(batch)
                    self._page_read(mode, output.finish_reason, seconds, output.tokens.get("generated"))
                    work.finish(output)
            return
        memory = self.engine.out_of_memory(failure)
        if len(batch) > 1:
            log.warning("A batch of %d pages at mode %s failed (%s); reading them one at a time", len(batch), mode,
                        f"out of {memory} memory" if memory else f"{type(failure).__name__}: {failure}")
            del failure  # its traceback holds the failed step's tensors
            if memory is not None:
                self.engine.release_memory()
            for work in batch:
                self._read_together([work])
            return
        work = batch[0]
        self._page_read(mode, "error", seconds, None)
        if memory is None:
            work.fail(failure)
            return
        image = work.request.image
        log.warning("Out of %s memory reading a %dx%d image at mode %s", memory, image.width, image.height, mode)
        del failure  # the traceback holding the failed step's tensors goes before freeing
        self.engine.release_memory()
        gc.collect()
        work.fail(out_of_memory_error(memory, image, mode))

    def _page_read(self, mode: str, outcome: str, seconds: float, generated: int | None) -> None:
        for listener in self.page_listeners:
            listener(self.engine.name, mode, outcome, seconds, generated)

    def cleanup(self) -> CleanupReport:
        """Collect garbage, give back engine caches and freed heap, and retry a failed load."""
        before, gpu_before = resident_memory_mb(), self.engine.gpu_memory()
        collected = gc.collect()
        self.release_memory()
        trim_heap()
        reloading = self.retry_load()
        return CleanupReport(before, resident_memory_mb(), gpu_before, self.engine.gpu_memory(), collected, reloading)

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
    def document(self) -> Iterator[DocumentProgress]:
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

    def gpu_memory(self) -> dict[str, str | None]:
        """The guide's GPU memory figures; all None without a GPU."""
        return self.engine.gpu_memory()

    def health(self) -> dict[str, Any]:
        """Load state, as /health reports it beside `describe()`."""
        self.engine.check()
        return {"model_loaded": self.ready, "tokenizer_loaded": self.engine.tokenizer_loaded}

    def describe(self) -> dict[str, Any]:
        """Engine, model, device, mode and load state, as / and /health report them."""
        with self._counter:
            documents = [{"pages_done": d.pages_done, "pages_total": d.pages_total} for d in self.documents]
        return {"remote": None, **self.engine.describe(), "engine_selection": self.selection,
                "engine_state": self.state, "engine_error": self.error,
                "load_seconds": self.load_seconds, "requests_in_flight": len(documents),
                "batch_size": self.batch_limit, "batch_wait_ms": round(self.batch_wait * 1000, 1),
                "batch_in_flight": self.batch_in_flight,
                "progress": self.engine.progress(), "documents_in_flight": documents}


def current_runtime() -> OcrRuntime:
    """The runtime of the app serving this request."""
    return current_app.extensions["ocr"]
