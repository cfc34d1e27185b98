"""Jobs: POST /jobs submits an upload and answers at once; GET /jobs/{job_id}, its events and its result follow it."""
from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, current_app, jsonify, request, stream_with_context, url_for

from deepseek_ocr_api.docs import documented
from deepseek_ocr_api.jobs import JobQueue, current_jobs, job_owner
from deepseek_ocr_api.jobs.model import FINISHED, Job
from deepseek_ocr_api.schemas import (
    JobLinksOut,
    JobListIn,
    JobListOut,
    JobOut,
    JobSummaryOut,
    OcrBase64In,
    OcrOut,
    OcrUploadIn,
    PageOut,
)
from deepseek_ocr_api.views.ocr import base64_upload, multipart_upload
from deepseek_ocr_api.worker import SHUTTING_DOWN

bp = Blueprint("jobs", __name__)

JOB_PARAMETER = [{"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"},
                  "description": "The job_id POST /jobs returned"}]
NOT_FOUND = "No such job, or it was made with another API key, or it finished more than OCR_JOBS_MAX_AGE ago"
EVENTS_POLL_SECONDS = 0.5  # how often an event stream looks for new pages
KEEPALIVE_SECONDS = 15.0  # a comment line this often: proxies keep the stream open, a gone client is noticed


def timestamp(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def links(job: Job) -> dict[str, str]:
    return {"job_id": job.id, "status": job.status,
            "status_url": url_for("jobs.job_status", job_id=job.id),
            "events_url": url_for("jobs.job_events", job_id=job.id),
            "result_url": url_for("jobs.job_result", job_id=job.id)}


def summary(job: Job, jobs: JobQueue) -> dict[str, Any]:
    error = job.error and {"status": job.error["status"], "detail": job.error["detail"]}
    return {**links(job), "pages_total": job.pages_total, "pages_done": job.pages_done,
            "queue_position": jobs.queue_position(job), "document_type": job.document_type,
            "page_count": job.page_count, "created_at": timestamp(job.created_at),
            "started_at": timestamp(job.started_at), "finished_at": timestamp(job.finished_at),
            "output_file": job.output_file, "error": error}


@bp.post("/jobs")
@documented("jobs", "提交异步任务", body=OcrUploadIn, body_type="multipart/form-data", json_body=OcrBase64In,
            ok_status=202, ok="Queued: follow status_url or events_url, then fetch result_url", response=JobLinksOut,
            errors={400: None, 413: None, 503: "OCR_JOBS_MAX_PENDING jobs are already queued or running (see "
                                              "Retry-After)", 507: "The waiting uploads would pass OCR_JOBS_MAX_BYTES"})
def submit_job():
    """Submit a job: the same fields as /ocr (multipart) or /ocr-base64 (JSON), answered at once.

    The upload is checked as /ocr checks it (a bad file is a 400 now, not a failed job later), kept, and read page by
    page in the background. Jobs survive a restart of the server; a job that was running resumes at its first
    unread page.
    """
    data, fields = base64_upload() if request.mimetype == "application/json" else multipart_upload()
    job = current_jobs().submit(data, fields, job_owner())
    response = jsonify(JobLinksOut().dump(links(job)))
    response.status_code = 202
    response.headers["Location"] = url_for("jobs.job_status", job_id=job.id)
    return response


@bp.get("/jobs")
@documented("jobs", "任务列表", ok="This key's jobs, newest first", response=JobListOut, errors={400: None},
            parameters=[{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100,
                                                                     "default": 20}},
                        {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}}])
def list_jobs():
    """List jobs made with this API key (all jobs when the server has no keys), newest first, a page at a time."""
    query = JobListIn().load(request.args.to_dict())
    jobs = current_jobs()
    found, total = jobs.list(job_owner(), query["limit"], query["offset"])
    return jsonify(JobListOut().dump({"jobs": [summary(job, jobs) for job in found], "total": total, **query}))


@bp.get("/jobs/<job_id>")
@documented("jobs", "任务状态", ok="The job, and the pages read so far", response=JobOut, errors={404: NOT_FOUND},
            parameters=JOB_PARAMETER)
def job_status(job_id: str):
    """Job status: queued, running, done, failed or cancelled; pages done, queue position and the pages read so far."""
    jobs = current_jobs()
    job = jobs.get(job_id, job_owner())
    return jsonify(JobOut().dump({**summary(job, jobs), "pages": jobs.pages(job)}))


@bp.get("/jobs/<job_id>/result")
@documented("jobs", "任务结果", ok="The same body /ocr returns for this upload", response=OcrOut,
            errors={404: NOT_FOUND, 409: "The job is not done (queued, running, failed or cancelled)"},
            parameters=JOB_PARAMETER)
def job_result(job_id: str):
    """Job result: once the job is done, what /ocr would have answered, output_file included."""
    jobs = current_jobs()
    return jsonify(OcrOut().dump(jobs.result(jobs.get(job_id, job_owner()))))


@bp.delete("/jobs/<job_id>")
@documented("jobs", "取消任务", ok="The job, now cancelled; the pages read so far are kept", response=JobSummaryOut,
            errors={404: NOT_FOUND, 409: "The job has already finished (done or failed)"}, parameters=JOB_PARAMETER)
def cancel_job(job_id: str):
    """Cancel a job: a queued job never starts, a running one stops after the page being read."""
    jobs = current_jobs()
    return jsonify(JobSummaryOut().dump(summary(jobs.cancel(job_id, job_owner()), jobs)))


@bp.get("/jobs/<job_id>/events")
@documented("jobs", "任务事件流", ok="Server-Sent Events: `event: page` for each page read (data: the page, as in "
            "`pages`), then one `event: done`, `failed` or `cancelled` (data: the job, as GET /jobs lists it). A client "
            "that connects late gets the pages already read first; `Last-Event-ID` resumes after a page.",
            response={"text/event-stream": {"schema": {"type": "string"}}}, errors={404: NOT_FOUND},
            parameters=JOB_PARAMETER)
def job_events(job_id: str):
    """Job events: each page as it is read, then how the job ended (Server-Sent Events)."""
    jobs = current_jobs()
    job = jobs.get(job_id, job_owner())
    last = request.headers.get("Last-Event-ID", "")
    return current_app.response_class(stream_with_context(page_events(jobs, job, int(last) if last.isdigit() else 0)),
                             mimetype="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def page_events(jobs: JobQueue, job: Job, after: int) -> Iterator[str]:
    """The stream of one job's events; its pages are looked for every EVENTS_POLL_SECONDS, from any process."""
    yield "retry: 2000\n\n"
    quiet_since = time.monotonic()
    while True:
        current = jobs.store.get(job.id)
        for seq, page in jobs.store.pages(job.id, after):
            after = seq
            yield f"event: page\nid: {seq}\ndata: {json.dumps(PageOut().dump(page), ensure_ascii=False)}\n\n"
            quiet_since = time.monotonic()
        if current is None:  # removed by retention meanwhile
            return
        if current.status in FINISHED:
            body = json.dumps(JobSummaryOut().dump(summary(current, jobs)), ensure_ascii=False)
            yield f"event: {current.status}\ndata: {body}\n\n"
            return
        if SHUTTING_DOWN.is_set():  # the server is stopping: the client reconnects (retry) after the restart
            return
        if time.monotonic() - quiet_since > KEEPALIVE_SECONDS:
            yield ": keepalive\n\n"
            quiet_since = time.monotonic()
        time.sleep(EVENTS_POLL_SECONDS)
