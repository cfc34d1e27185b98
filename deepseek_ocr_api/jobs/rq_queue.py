"""Jobs on Redis, read by RQ workers (OCR_JOB_QUEUE=redis://host:port/db): any number of web instances submit, any
number of `deepseek-ocr-api worker` processes (one per GPU, on any machine) read. Each run of up to OCR_BATCH_SIZE
pages (auto: 8) of a job is one RQ job, which the worker reads as one batch: the workers share the runs of one long
document, and a worker killed in the middle of a run loses only the pages of it not yet kept: RQ finds the run
abandoned and requeues it (its `Retry`), and another worker reads what is left of it.

RQ hands a worker one RQ job at a time, so a batch holds pages of one job only; waiting pages of other jobs are not
pulled in (that would need claims outside RQ's retries and abandoned-job handling)."""
from __future__ import annotations

import json
import logging
import time
from typing import Any

from flask import current_app
from redis import Redis
from redis.exceptions import WatchError
from rq import Queue, Retry, SimpleWorker, Worker, get_current_job

from deepseek_ocr_api.jobs.model import FINISHED, Job
from deepseek_ocr_api.jobs.runner import OpenDocument, read_job
from deepseek_ocr_api.jobs.store import JobStore
from deepseek_ocr_api.settings import Settings

log = logging.getLogger(__name__)

PREFIX = "deepseek-ocr"
QUEUE_NAME = "deepseek-ocr-pages"
PAGE_RETRIES = 3  # a run of pages whose worker died is read again up to this many times
AUTO_RUN_PAGES = 8  # pages per RQ job with OCR_BATCH_SIZE=0 (auto): the batch a CUDA worker reads
# A page job's execution expires this long after its timeout. RQ's SimpleWorker allows 60 s; a page never outlives
# its timeout (the worker's death penalty stops it), so a few seconds are enough, and a killed worker's page is
# requeued that much sooner.
EXPIRY_GRACE_SECONDS = 10
# Keep a page once, and note the order pages were read in, in one step.
ADD_PAGE = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
    redis.call('RPUSH', KEYS[2], ARGV[1])
    return 1
end
return 0
"""


class RedisJobStore(JobStore):
    """The job store on Redis: `job:<id>` (the record, changed under WATCH), `job:<id>:upload`, `job:<id>:pages`
    (page number -> page) with `job:<id>:order`, and sorted sets of pending, finished and each key's jobs."""

    def __init__(self, redis: Redis):
        self.redis = redis
        self._add_page = redis.register_script(ADD_PAGE)

    @classmethod
    def from_url(cls, url: str) -> RedisJobStore:
        return cls(Redis.from_url(url))

    @staticmethod
    def key(*parts: str) -> str:
        return ":".join((PREFIX, *parts))

    def _job(self, record: bytes | None, job_id: str) -> Job | None:
        if record is None:
            return None
        return Job(**json.loads(record), pages_done=self.redis.hlen(self.key("job", job_id, "pages")))

    def create(self, job: Job, upload: bytes) -> None:
        with self.redis.pipeline() as pipe:
            pipe.set(self.key("job", job.id, "upload"), upload)
            pipe.set(self.key("job", job.id), json.dumps(job.record()))
            pipe.zadd(self.key("pending"), {job.id: job.created_at})
            pipe.zadd(self.key("owner", job.owner or "-"), {job.id: job.created_at})
            pipe.execute()

    def get(self, job_id: str) -> Job | None:
        return self._job(self.redis.get(self.key("job", job_id)), job_id)

    def list(self, owner: str, limit: int, offset: int) -> tuple[list[Job], int]:
        index = self.key("owner", owner or "-")
        ids = [job_id.decode() for job_id in self.redis.zrevrange(index, offset, offset + limit - 1)]
        jobs = [job for job in (self.get(job_id) for job_id in ids) if job is not None]
        return jobs, self.redis.zcard(index)

    def pending_ids(self) -> list[str]:
        return [job_id.decode() for job_id in self.redis.zrange(self.key("pending"), 0, -1)]

    def pending_bytes(self) -> int:
        return sum(job.upload_bytes for job in map(self.get, self.pending_ids()) if job is not None)

    def counts(self) -> dict[str, int]:
        """Pending jobs by their state, finished ones by theirs (a scrape reads every kept job's record)."""
        counts: dict[str, int] = {}
        for index in ("pending", "finished"):
            for job_id in self.redis.zrange(self.key(index), 0, -1):
                job = self.get(job_id.decode())
                if job is not None:
                    counts[job.status] = counts.get(job.status, 0) + 1
        return counts

    def upload(self, job_id: str) -> bytes:
        data = self.redis.get(self.key("job", job_id, "upload"))
        if data is None:
            raise FileNotFoundError(f"the upload of job {job_id} is gone")
        return data

    def add_page(self, job_id: str, page: dict[str, Any]) -> bool:
        return bool(self._add_page(keys=[self.key("job", job_id, "pages"), self.key("job", job_id, "order")],
                                   args=[page["page"], json.dumps(page, ensure_ascii=False)]))

    def pages(self, job_id: str, after: int = 0) -> list[tuple[int, dict[str, Any]]]:
        numbers = self.redis.lrange(self.key("job", job_id, "order"), after, -1)
        if not numbers:
            return []
        pages = self.redis.hmget(self.key("job", job_id, "pages"), numbers)
        return [(after + index + 1, json.loads(page)) for index, page in enumerate(pages)]

    def update(self, job_id: str, expect: tuple[str, ...] | None = None, **changes: Any) -> Job | None:
        key = self.key("job", job_id)
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    job = self._job(pipe.get(key), job_id)
                    if job is None or (expect is not None and job.status not in expect):
                        pipe.unwatch()
                        return None
                    for name, value in changes.items():
                        setattr(job, name, value)
                    pipe.multi()
                    pipe.set(key, json.dumps(job.record()))
                    if job.status in FINISHED:
                        pipe.zrem(self.key("pending"), job_id)
                        pipe.zadd(self.key("finished"), {job_id: job.finished_at or time.time()})
                    pipe.execute()
                    return job
                except WatchError:
                    continue

    def drop_upload(self, job_id: str) -> None:
        self.redis.delete(self.key("job", job_id, "upload"))

    def prune(self, max_age: float) -> int:
        if max_age <= 0:
            return 0
        doomed = [job_id.decode() for job_id in
                  self.redis.zrangebyscore(self.key("finished"), 0, time.time() - max_age)]
        for job_id in doomed:
            job = self.get(job_id)
            with self.redis.pipeline() as pipe:
                pipe.delete(*(self.key("job", job_id, *part) for part in ((), ("upload",), ("pages",), ("order",))))
                pipe.zrem(self.key("finished"), job_id)
                if job is not None:
                    pipe.zrem(self.key("owner", job.owner or "-"), job_id)
                pipe.execute()
        return len(doomed)


class RqConsumer:
    """Hands each page of a new job to RQ; the workers that read them are separate processes."""

    def __init__(self, store: RedisJobStore, settings: Settings):
        self.queue = Queue(QUEUE_NAME, connection=store.redis)
        self.page_timeout = settings.job_page_timeout
        self.run_pages = settings.batch_size or AUTO_RUN_PAGES

    def submitted(self, job: Job) -> None:
        numbers = job.page_numbers
        for start in range(0, len(numbers), self.run_pages):
            run = numbers[start:start + self.run_pages]
            self.queue.enqueue(read_job_page, job.id, run, job_id=f"{job.id}-p{run[0]}",
                               retry=Retry(max=PAGE_RETRIES), job_timeout=self.page_timeout * len(run),
                               result_ttl=0, failure_ttl=7 * 86400)

    def cancelled(self, job: Job) -> None:
        """Pages still queued find the job cancelled when a worker takes them, and end at once."""

    def workers(self) -> int:
        return Worker.count(queue=self.queue)


def read_job_page(job_id: str, numbers: list[int] | int) -> None:
    """The RQ job: read a run of pages of a job (one page from before runs), in the worker's app (its engine is
    loaded before the worker starts), in batches of the worker's own batch size."""
    numbers = [numbers] if isinstance(numbers, int) else numbers
    worker: PageWorker = current_app.extensions["rq_worker"]
    run = get_current_job()
    read_job(current_app.extensions["jobs"].store, job_id, numbers, current_app.extensions["open_document"],
             on_page=lambda: worker.page_kept(run))


class PageWorker(SimpleWorker):
    """RQ's SimpleWorker (jobs run in the worker process: the model stays loaded, and CUDA does not survive fork).
    A run's execution expires soon after one batch's time (its pages' timeout each, for at most a batch of them),
    and every page kept renews it: a killed worker's run is requeued about as soon as a one-page job would be."""

    batch_limit = 1  # the pages this worker's engine reads at once

    def get_heartbeat_ttl(self, job, working_time: float = 0.0) -> int:
        pages = len(job.args[1]) if len(job.args) > 1 and isinstance(job.args[1], list) else 1
        page_timeout = int(job.timeout or self.worker_ttl) / pages
        return int(page_timeout * min(pages, self.batch_limit)) + EXPIRY_GRACE_SECONDS

    def page_kept(self, job) -> None:
        """Renew the heartbeat of the run being read (RQ's job): it is alive."""
        execution = self.execution
        if job is not None and execution is not None:
            self.maintain_heartbeats(job, execution)


def run_worker(app, settings: Settings, burst: bool = False) -> bool:
    """Read pages from the queue until stopped (SIGTERM/SIGINT: after the page being read); True if it ended well."""
    store: RedisJobStore = app.extensions["jobs"].store
    app.extensions["open_document"] = open_document = OpenDocument()
    with app.app_context():
        # An idle worker wakes every worker_ttl - 15 seconds, and only then looks for abandoned pages.
        worker = PageWorker([Queue(QUEUE_NAME, connection=store.redis)], connection=store.redis,
                            maintenance_interval=settings.worker_maintenance_seconds,
                            worker_ttl=settings.worker_maintenance_seconds + 15)
        worker.batch_limit = app.extensions["ocr"].batch_limit
        app.extensions["rq_worker"] = worker
        log.info("Worker %s reads pages from %s with the %s engine", worker.name, QUEUE_NAME,
                 app.extensions["ocr"].engine_name)
        try:
            return worker.work(burst=burst, logging_level=settings.log_level, with_scheduler=False)
        finally:
            open_document.close()

