"""A job: one upload read page by page in the background, its state, and the pages read so far."""
from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
PENDING = (QUEUED, RUNNING)
FINISHED = (DONE, FAILED, CANCELLED)
# 128 random bits, URL-safe: a job id is its own secret when no API keys are set.
JOB_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")


def new_job_id() -> str:
    return secrets.token_urlsafe(16)


def owner_of(key: bytes | None) -> str:
    """Who a job belongs to: a digest of the API key it was made with ('' when the server has no keys)."""
    return hashlib.sha256(key).hexdigest()[:32] if key else ""


@dataclass
class Job:
    """One submitted upload. `fields` are the validated request fields, as /ocr takes them."""

    id: str
    owner: str
    fields: dict[str, Any]
    document_type: str
    page_count: int  # pages in the upload
    page_numbers: list[int]  # the pages to read, in order
    upload_bytes: int
    stem: str  # the result file's name without its extension
    status: str = QUEUED
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    decode_ms: float = 0.0
    mode: str | None = None  # the resolution mode, once a reader has resolved it
    answered_by: dict[str, Any] | None = None  # engine, model, ... of the reader of the last page
    output_file: str | None = None
    save_failed: bool = False
    error: dict[str, Any] | None = None  # {"status": code, "detail": {...}} when the job failed
    pages_done: int = 0

    @property
    def pages_total(self) -> int:
        return len(self.page_numbers)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def record(self) -> dict[str, Any]:
        """Every field, for a store; `pages_done` is counted by the store, not kept."""
        record = asdict(self)
        record.pop("pages_done")
        return record
