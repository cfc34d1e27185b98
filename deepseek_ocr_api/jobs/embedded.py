"""The embedded consumer: one thread of the server's own worker process reads the jobs of the embedded store, oldest
first, page by page, through the same runtime as /ocr (so /ocr and jobs take turns page by page)."""
from __future__ import annotations

import logging
import threading

from flask import Flask

from deepseek_ocr_api.jobs.model import Job
from deepseek_ocr_api.jobs.runner import read_job
from deepseek_ocr_api.jobs.store import SqliteJobStore
from deepseek_ocr_api.runtime import current_runtime

log = logging.getLogger(__name__)

IDLE_SECONDS = 30.0  # with nothing to read it sleeps until a job is submitted, looking again this often anyway


class EmbeddedConsumer:
    """Starts with the first job, or at once when the store holds jobs from before a restart."""

    def __init__(self, app: Flask, store: SqliteJobStore):
        self.app, self.store = app, store
        self._wake = threading.Event()
        self._started = threading.Lock()
        self._thread: threading.Thread | None = None
        if store.exists() and store.pending_ids():
            log.info("Resuming %d job(s) queued or running before the restart", len(store.pending_ids()))
            self._start()

    def submitted(self, job: Job) -> None:
        self._start()
        self._wake.set()

    def cancelled(self, job: Job) -> None:
        """A running job sees it between pages."""

    def workers(self) -> None:
        return None

    def _start(self) -> None:
        with self._started:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="job-consumer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        with self.app.app_context():
            runtime = current_runtime()
            while True:
                if not runtime.ready:  # jobs wait while the engine loads, or after a failed load until /cleanup
                    runtime.wait_until_settled(IDLE_SECONDS)
                    self._wake.wait(1.0 if runtime.ready else IDLE_SECONDS)
                    continue
                self._wake.clear()
                try:
                    pending = self.store.pending_ids()
                    if pending:
                        read_job(self.store, pending[0])
                        continue
                except Exception:  # the consumer outlives any one job's trouble
                    log.exception("The job consumer hit an error; it goes on with the next job")
                self._wake.wait(IDLE_SECONDS)
