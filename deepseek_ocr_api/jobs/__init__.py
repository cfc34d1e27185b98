"""Jobs: an upload submitted now and read page by page in the background (POST /jobs). The views talk to `JobQueue`
through `current_jobs()`; it keeps jobs in a store and hands them to a consumer: by default a thread of this server
that reads them with this server's engine (`embedded.py`), or with OCR_JOB_QUEUE=redis://... RQ workers
(`rq_queue.py`)."""
from __future__ import annotations

import logging
import math
import time
from contextlib import closing
from pathlib import Path
from typing import Any, Protocol

from flask import Flask, current_app

from deepseek_ocr_api.access import presented_key
from deepseek_ocr_api.errors import ApiError, JobConflict, JobNotFound, JobStorageFull, ModelNotReady, ServerBusy
from deepseek_ocr_api.jobs.model import CANCELLED, DONE, JOB_ID, PENDING, QUEUED, Job, new_job_id, owner_of
from deepseek_ocr_api.jobs.runner import job_pages, job_result
from deepseek_ocr_api.jobs.store import JobStore, SqliteJobStore
from deepseek_ocr_api.results import ResultStore
from deepseek_ocr_api.runtime import current_runtime
from deepseek_ocr_api.service import DocumentResult, OcrRequest, PageResult, open_document
from deepseek_ocr_api.settings import Settings

log = logging.getLogger(__name__)

WAIT_POLL_SECONDS = 0.2  # how often /ocr on OCR_ENGINE=none looks whether its job is done


class Consumer(Protocol):
    """What reads the jobs: told of each new job, and of each cancellation."""

    def submitted(self, job: Job) -> None: ...

    def cancelled(self, job: Job) -> None: ...

    def workers(self) -> int | None:
        """Processes reading the jobs, where they are separate (RQ workers); None for the server's own thread."""


class JobQueue:
    """Flask extension in `app.extensions["jobs"]`: submits, finds, lists and cancels jobs, each seen only by the
    key that made it."""

    def __init__(self, store: JobStore, consumer: Consumer, settings: Settings):
        self.store, self.consumer, self.settings = store, consumer, settings

    def submit(self, data: bytes, fields: dict[str, Any], owner: str) -> Job:
        """Check the upload as /ocr would, then keep it and queue it. 503 with Retry-After over
        OCR_JOBS_MAX_PENDING jobs, 507 when the waiting uploads would pass OCR_JOBS_MAX_BYTES."""
        request = OcrRequest.from_fields(fields)
        current_runtime().check_task(request.task, request.mode)
        pending = self.store.pending_ids()
        if len(pending) >= self.settings.jobs_max_pending:
            raise ServerBusy(f"{len(pending)} jobs are queued or running, the most this server keeps "
                             f"(OCR_JOBS_MAX_PENDING={self.settings.jobs_max_pending}); try again later",
                             headers={"Retry-After": str(self.retry_after(pending))})
        waiting = self.store.pending_bytes()
        if waiting + len(data) > self.settings.jobs_max_bytes:
            raise JobStorageFull(f"The uploads of the jobs waiting to be read take {waiting:,} bytes; this one "
                                 f"({len(data):,} bytes) would pass OCR_JOBS_MAX_BYTES={self.settings.jobs_max_bytes}")
        started = time.monotonic()
        with closing(open_document(data, request.pages, self.settings)) as document:
            kind, page_count, numbers = document.kind, document.page_count, list(document.numbers)
        job = Job(new_job_id(), owner, fields, kind, page_count, numbers, len(data), ResultStore.new_stem(),
                  decode_ms=round((time.monotonic() - started) * 1000, 1))
        self.store.create(job, data)
        self.consumer.submitted(job)
        log.info("Job %s queued: a %s, %d page(s)", job.id, kind, len(numbers))
        return job

    def read_now(self, data: bytes, fields: dict[str, Any], owner: str) -> DocumentResult:
        """/ocr on a web instance without a model (OCR_ENGINE=none): a job, waited for; its error if it fails.
        The request holds one of the runtime's OCR_QUEUE_DEPTH places while it waits, as a local /ocr does."""
        if self.consumer.workers() == 0:
            raise ModelNotReady("No `deepseek-ocr-api worker` is reading the job queue (OCR_JOB_QUEUE) that this "
                                "server, which has no model (OCR_ENGINE=none), sends its pages to",
                                ["Start a worker: deepseek-ocr-api worker / 启动 deepseek-ocr-api worker"],
                                headers={"Retry-After": "10"})
        with current_runtime().document() as progress:
            job = self.submit(data, fields, owner)
            progress.pages_total = job.pages_total
            while not job.finished:
                time.sleep(WAIT_POLL_SECONDS)
                job = self.store.get(job.id)
                if job is None:
                    raise ApiError("The job behind this request vanished from the queue", ["Try again / 请重试"])
                progress.pages_done = job.pages_done
        if job.status == DONE:
            return job_result(self.store, job)
        if job.error is None:
            raise ServerBusy("The job behind this request was cancelled", ["Try again / 请重试"])
        error = ApiError(job.error["detail"]["message"], job.error["detail"]["suggestions"],
                         error=job.error["detail"]["error"])
        error.status_code = job.error["status"]
        raise error

    def health(self) -> dict[str, Any]:
        """What /health says about jobs."""
        return {"job_queue": "redis" if self.settings.job_queue else "embedded",
                "jobs_pending": len(self.store.pending_ids()), "job_workers": self.consumer.workers()}

    def retry_after(self, pending: list[str]) -> int:
        """Seconds until the oldest pending job is likely done, at the runtime's pace."""
        oldest = self.store.get(pending[0]) if pending else None
        left = oldest.pages_total - oldest.pages_done if oldest else 1
        return max(1, math.ceil(left * current_runtime().page_seconds))

    def get(self, job_id: str, owner: str) -> Job:
        """The job, if this key made it; JobNotFound (404) otherwise, whether it exists or not."""
        job = self.store.get(job_id) if JOB_ID.match(job_id) else None
        if job is None or job.owner != owner:
            raise JobNotFound(f"No job {job_id!r}")
        return job

    def list(self, owner: str, limit: int, offset: int) -> tuple[list[Job], int]:
        return self.store.list(owner, limit, offset)

    def cancel(self, job_id: str, owner: str) -> Job:
        """Cancel a queued or running job (a running one stops after its current page); a cancelled job is
        cancelled again without complaint; 409 for a job that has finished."""
        job = self.get(job_id, owner)
        cancelled = self.store.update(job.id, PENDING, status=CANCELLED, finished_at=time.time())
        if cancelled is not None:
            self.store.drop_upload(job.id)  # a running job's reader has its document open already
            self.consumer.cancelled(cancelled)
            log.info("Job %s cancelled after %d of %d page(s)", job.id, cancelled.pages_done, cancelled.pages_total)
            return cancelled
        job = self.store.get(job.id)
        if job.status == CANCELLED:
            return job
        raise JobConflict(f"Job {job.id} has already finished ({job.status}); there is nothing to cancel")

    def result(self, job: Job) -> DocumentResult:
        """What /ocr would have answered; 409 until the job is done."""
        if job.status != DONE:
            message = {QUEUED: "is queued", "running": f"is running ({job.pages_done} of {job.pages_total} pages read)",
                       CANCELLED: "was cancelled; its pages read so far are in GET /jobs/{job_id}",
                       "failed": "failed; GET /jobs/{job_id} says why"}[job.status]
            raise JobConflict(f"Job {job.id} {message.replace('{job_id}', job.id)}")
        return job_result(self.store, job)

    def pages(self, job: Job) -> list[PageResult]:
        return job_pages(self.store, job)

    def queue_position(self, job: Job) -> int | None:
        return self.store.queue_position(job)


def init_jobs(app: Flask, settings: Settings) -> None:
    """The job queue in `app.extensions["jobs"]`: its store and consumer, and its retention on the janitor."""
    if settings.job_queue:
        from deepseek_ocr_api.jobs.rq_queue import RedisJobStore, RqConsumer

        store = RedisJobStore.from_url(settings.job_queue)
        consumer = RqConsumer(store, settings)
    else:
        from deepseek_ocr_api.jobs.embedded import EmbeddedConsumer

        store = SqliteJobStore(Path(settings.results_dir) / "jobs")
        consumer = EmbeddedConsumer(app, store)
    app.extensions["jobs"] = JobQueue(store, consumer, settings)
    app.extensions["janitor"].add("finished job(s)", lambda: store.prune(settings.jobs_max_age))


def job_owner() -> str:
    """Whose jobs this request sees: those made with its API key; everyone's when the server has no keys."""
    return owner_of(presented_key()) if current_app.extensions["api_keys"] else ""


def current_jobs() -> JobQueue:
    """The job queue of the app serving this request."""
    return current_app.extensions["jobs"]
