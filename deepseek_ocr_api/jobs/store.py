"""Where jobs live: the embedded store (SQLite in WAL mode, uploads as files beside it), one per server instance.
The Redis store (`redis_store.py`) keeps the same interface for several instances and workers."""
from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import time
from abc import ABC, abstractmethod
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from deepseek_ocr_api.jobs.model import FINISHED, PENDING, Job

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    finished_at REAL,
    upload_bytes INTEGER NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_owner ON jobs (owner, created_at);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, created_at);
CREATE TABLE IF NOT EXISTS pages (
    job_id TEXT NOT NULL,
    page INTEGER NOT NULL,
    seq INTEGER NOT NULL,  -- 1, 2, 3... in the order the job's pages were read
    result TEXT NOT NULL,
    PRIMARY KEY (job_id, page)
);
"""


class JobStore(ABC):
    """Jobs, their uploads and their pages; every change of a job's status is atomic."""

    @abstractmethod
    def create(self, job: Job, upload: bytes) -> None: ...

    @abstractmethod
    def get(self, job_id: str) -> Job | None: ...

    @abstractmethod
    def list(self, owner: str, limit: int, offset: int) -> tuple[list[Job], int]:
        """A key's jobs, newest first, and how many it has."""

    @abstractmethod
    def pending_ids(self) -> list[str]:
        """Queued and running jobs, oldest first."""

    @abstractmethod
    def pending_bytes(self) -> int:
        """The uploads of queued and running jobs."""

    @abstractmethod
    def counts(self) -> dict[str, int]:
        """How many jobs are kept in each status."""

    @abstractmethod
    def upload(self, job_id: str) -> bytes: ...

    @abstractmethod
    def add_page(self, job_id: str, page: dict[str, Any]) -> bool:
        """Keep a page read; False (and nothing kept) if that page of the job was kept before."""

    @abstractmethod
    def pages(self, job_id: str, after: int = 0) -> list[tuple[int, dict[str, Any]]]:
        """(sequence number, page) of the pages kept after sequence number `after`, in the order they were read."""

    @abstractmethod
    def update(self, job_id: str, expect: tuple[str, ...] | None = None, **changes: Any) -> Job | None:
        """Change a job's fields, only if its status is one of `expect` (any, when None); the job as changed,
        or None when it is gone or its status was not expected."""

    @abstractmethod
    def drop_upload(self, job_id: str) -> None: ...

    @abstractmethod
    def prune(self, max_age: float) -> int:
        """Remove jobs that finished more than `max_age` seconds ago, with their pages; how many."""

    def queue_position(self, job: Job) -> int | None:
        """How many jobs, queued or running, are ahead of a queued one (0: it is read next); None once it runs."""
        if job.status != PENDING[0]:
            return None
        pending = self.pending_ids()
        return pending.index(job.id) if job.id in pending else None


class SqliteJobStore(JobStore):
    """Jobs in `<folder>/jobs.sqlite3` (WAL mode: readers never wait for the writer), uploads in `<folder>/uploads`."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.uploads = self.folder / "uploads"
        self.path = self.folder / "jobs.sqlite3"
        self._created = self.path.exists()

    def exists(self) -> bool:
        """Whether any job was ever stored here: the folder is made with the first job, and until then reading
        the store touches no disk."""
        return self.path.exists()

    def _create(self) -> None:
        """The folders and the database, the first time anything is stored or read here."""
        if self._created:
            return
        self.uploads.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path, timeout=30, isolation_level=None)) as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)
        self._created = True

    @contextmanager
    def _connect(self):
        self._create()
        # A connection per use: the store is shared by request threads and the consumer thread.
        with closing(sqlite3.connect(self.path, timeout=30, isolation_level=None)) as db:
            db.execute("PRAGMA busy_timeout = 30000")
            yield db

    @contextmanager
    def _transaction(self):
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @staticmethod
    def _job(record: str, pages_done: int) -> Job:
        return Job(**json.loads(record), pages_done=pages_done)

    def _upload_path(self, job_id: str) -> Path:
        return self.uploads / job_id

    def create(self, job: Job, upload: bytes) -> None:
        self._create()
        descriptor, temporary = tempfile.mkstemp(prefix=".partial-", dir=self.uploads)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(upload)
        os.replace(temporary, self._upload_path(job.id))
        with self._transaction() as db:
            db.execute("INSERT INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (job.id, job.owner, job.status, job.created_at, job.finished_at, job.upload_bytes,
                        json.dumps(job.record())))

    def get(self, job_id: str) -> Job | None:
        if not self.exists():
            return None
        with self._connect() as db:
            row = db.execute("SELECT record, (SELECT COUNT(*) FROM pages WHERE job_id = jobs.id) FROM jobs "
                             "WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else self._job(*row)

    def list(self, owner: str, limit: int, offset: int) -> tuple[list[Job], int]:
        if not self.exists():
            return [], 0
        with self._connect() as db:
            rows = db.execute("SELECT record, (SELECT COUNT(*) FROM pages WHERE job_id = jobs.id) FROM jobs "
                              "WHERE owner = ? ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?",
                              (owner, limit, offset)).fetchall()
            total = db.execute("SELECT COUNT(*) FROM jobs WHERE owner = ?", (owner,)).fetchone()[0]
        return [self._job(*row) for row in rows], total

    def pending_ids(self) -> list[str]:
        if not self.exists():
            return []
        with self._connect() as db:
            rows = db.execute("SELECT id FROM jobs WHERE status IN (?, ?) ORDER BY created_at, rowid",
                              PENDING).fetchall()
        return [row[0] for row in rows]

    def pending_bytes(self) -> int:
        if not self.exists():
            return 0
        with self._connect() as db:
            return db.execute("SELECT COALESCE(SUM(upload_bytes), 0) FROM jobs WHERE status IN (?, ?)",
                              PENDING).fetchone()[0]

    def counts(self) -> dict[str, int]:
        if not self.exists():
            return {}
        with self._connect() as db:
            return dict(db.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall())

    def upload(self, job_id: str) -> bytes:
        return self._upload_path(job_id).read_bytes()

    def add_page(self, job_id: str, page: dict[str, Any]) -> bool:
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO pages SELECT ?, ?, COUNT(*) + 1, ? FROM pages WHERE job_id = ?",
                (job_id, page["page"], json.dumps(page, ensure_ascii=False), job_id))
            return cursor.rowcount == 1

    def pages(self, job_id: str, after: int = 0) -> list[tuple[int, dict[str, Any]]]:
        with self._connect() as db:
            rows = db.execute("SELECT seq, result FROM pages WHERE job_id = ? AND seq > ? ORDER BY seq",
                              (job_id, after)).fetchall()
        return [(seq, json.loads(result)) for seq, result in rows]

    def update(self, job_id: str, expect: tuple[str, ...] | None = None, **changes: Any) -> Job | None:
        with self._transaction() as db:
            row = db.execute("SELECT record, (SELECT COUNT(*) FROM pages WHERE job_id = jobs.id) FROM jobs "
                             "WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                return None
            job = self._job(*row)
            if expect is not None and job.status not in expect:
                return None
            for name, value in changes.items():
                setattr(job, name, value)
            db.execute("UPDATE jobs SET status = ?, finished_at = ?, record = ? WHERE id = ?",
                       (job.status, job.finished_at, json.dumps(job.record()), job_id))
        return job

    def drop_upload(self, job_id: str) -> None:
        self._upload_path(job_id).unlink(missing_ok=True)

    def prune(self, max_age: float) -> int:
        if max_age <= 0 or not self.exists():
            return 0
        with self._transaction() as db:
            doomed = [row[0] for row in db.execute(
                f"SELECT id FROM jobs WHERE status IN ({', '.join('?' * len(FINISHED))}) AND finished_at < ?",
                (*FINISHED, time.time() - max_age))]
            for job_id in doomed:
                db.execute("DELETE FROM pages WHERE job_id = ?", (job_id,))
                db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        for job_id in doomed:
            self.drop_upload(job_id)
        return len(doomed)
