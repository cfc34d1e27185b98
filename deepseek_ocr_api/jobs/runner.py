"""Reading a job's pages through the runtime of the app this runs in: the embedded consumer thread and the RQ
worker both call `read_job`. Each page is kept as soon as it is read, so a job resumes at its first unread page
and never keeps a page twice."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict

from deepseek_ocr_api.documents import Document
from deepseek_ocr_api.errors import ApiError
from deepseek_ocr_api.jobs.model import DONE, FAILED, PENDING, RUNNING, Job
from deepseek_ocr_api.jobs.store import JobStore
from deepseek_ocr_api.runtime import current_runtime
from deepseek_ocr_api.schemas import result_file_json
from deepseek_ocr_api.service import (
    ANSWERED_BY,
    DocumentResult,
    OcrRequest,
    PageResult,
    document_result,
    open_document,
    read_pages,
    save_result,
)
from deepseek_ocr_api.settings import current_settings

log = logging.getLogger(__name__)


class OpenDocument:
    """The document of the job whose page a worker read last, kept open for its next page: RQ hands a worker one page
    at a time, and opening a PDF again for each page (its renderer is a child process) cost 40% of a page's time."""

    def __init__(self):
        self.job_id: str | None = None
        self.document: Document | None = None
        self._lock = threading.Lock()

    @contextmanager
    def of(self, job_id: str, opener: Callable[[], Document]) -> Iterator[Document]:
        with self._lock:
            if self.job_id != job_id:
                self.close()
                self.document, self.job_id = opener(), job_id
            try:
                yield self.document
            except BaseException:
                self.close()
                raise

    def close(self) -> None:
        if self.document is not None:
            self.document.close()
        self.document = self.job_id = None


def read_job(store: JobStore, job_id: str, numbers: list[int] | None = None,
             kept_open: OpenDocument | None = None, on_page: Callable[[], None] | None = None) -> None:
    """Read the job's pages not yet kept (of `numbers`, or all), then finish the job if none is left. Stops between
    pages once the job is cancelled; a client's mistake or an engine failure fails the job with its error body.
    With `kept_open`, the job's document stays open after the call, for the next page; `on_page` is called after
    each page kept."""
    job = store.get(job_id)
    if job is None or job.status not in PENDING:
        return
    job = store.update(job_id, PENDING, status=RUNNING, started_at=job.started_at or time.time())
    if job is None:
        return
    request = OcrRequest.from_fields(job.fields)
    runtime = current_runtime()
    try:
        mode = runtime.check_request(request.task, request.mode)
        kept = {page["page"] for _, page in store.pages(job_id)}
        unread = [number for number in numbers or job.page_numbers if number not in kept]
        if unread:
            answered_by = {name: runtime.describe()[name] for name in ANSWERED_BY}
            store.update(job_id, mode=mode, answered_by=answered_by)
            opener = lambda: open_document(store.upload(job_id), job.fields.get("pages"), current_settings())  # noqa: E731
            opened = kept_open.of(job_id, opener) if kept_open is not None else closing(opener())
            with opened as document, closing(read_pages(document, unread, request, mode, job.stem)) as pages:
                for page in pages:  # a batch's pages come at once; each is kept as it comes
                    store.add_page(job_id, asdict(page))
                    if on_page is not None:
                        on_page()
                    if store.get(job_id).status != RUNNING:  # cancelled: the pages read so far stay
                        return
    except ApiError as error:
        log.warning("Job %s failed: %s", job_id, error.message)
        fail(store, job_id, error)
        return
    except Exception:
        if (store.get(job_id) or job).status != RUNNING:  # cancelled meanwhile: its upload went with it
            return
        log.exception("Job %s failed on an unexpected error", job_id)
        fail(store, job_id, ApiError("The server hit an unexpected error reading this job; it has been logged",
                                     ["Submit the job again / 请重新提交任务", "Check the server log / 查看服务器日志"]))
        return
    finish(store, job_id)
    if kept_open is not None and kept_open.job_id == job_id and (store.get(job_id) or job).finished:
        kept_open.close()


def fail(store: JobStore, job_id: str, error: ApiError) -> None:
    if store.update(job_id, PENDING, status=FAILED, finished_at=time.time(),
                    error={"status": error.status_code, **error.body()}) is not None:
        store.drop_upload(job_id)


def finish(store: JobStore, job_id: str) -> None:
    """Once every page is kept: save the result file (when asked for) and mark the job done, exactly once."""
    job = store.get(job_id)
    if job is None or job.status != RUNNING or job.pages_done < job.pages_total:
        return
    finished_at = time.time()  # one moment: the saved file's timings are those GET .../result answers
    result = job_result(store, job, finished_at)
    if job.fields.get("save_to_file", True):
        save_result(result, result_file_json)  # the same name whoever writes it: a second write replaces the first
    if store.update(job_id, (RUNNING,), status=DONE, finished_at=finished_at, output_file=result.output_file,
                    save_failed=result.save_failed) is not None:
        store.drop_upload(job_id)
        log.info("Job %s done: %d page(s)", job_id, job.pages_total)


def job_pages(store: JobStore, job: Job) -> list[PageResult]:
    """The pages kept so far, in the document's order."""
    pages = {page["page"]: PageResult(**page) for _, page in store.pages(job.id)}
    return [pages[number] for number in job.page_numbers if number in pages]


def job_result(store: JobStore, job: Job, finished_at: float | None = None) -> DocumentResult:
    """The body /ocr would have returned for the job's upload."""
    finished_at = finished_at or job.finished_at or time.time()
    started_at = job.started_at or finished_at
    result = document_result(job.answered_by, job.mode, OcrRequest.from_fields(job.fields), job.document_type,
                             job.page_count, job_pages(store, job), job.stem,
                             {"decode_ms": job.decode_ms, "ocr_ms": round((finished_at - started_at) * 1000, 1),
                              "total_ms": round((finished_at - job.created_at) * 1000, 1)})
    result.output_file, result.save_failed = job.output_file, job.save_failed
    return result
