"""Saved OCR results: unguessable names, atomic writes, and lookups that never leave the results folder."""
from __future__ import annotations

import io
import logging
import os
import re
import secrets
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from flask import Flask, current_app

from deepseek_ocr_api.errors import ResultNotFound

log = logging.getLogger(__name__)

EXTENSIONS = {"text": "txt", "markdown": "md", "json": "json"}
# Flask adds "; charset=utf-8" to the text types.
MEDIA_TYPES = {"txt": "text/plain", "md": "text/markdown", "json": "application/json", "png": "image/png"}
RESULT_NAME = re.compile(r"^ocr_result_\d{8}_\d{6}_[0-9a-f]{16}(_p\d{1,5})?\.(txt|md|json|png)$")


class ResultStore:
    """A folder of result files named `ocr_result_YYYYMMDD_HHMMSS_<16 hex>.<ext>`."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder).resolve()

    @staticmethod
    def new_stem() -> str:
        """A fresh, unguessable result name without its extension: `ocr_result_YYYYMMDD_HHMMSS_<16 hex>`."""
        return f"ocr_result_{datetime.now():%Y%m%d_%H%M%S}_{secrets.token_hex(8)}"

    @staticmethod
    def result_name(stem: str, output_format: str) -> str:
        """`<stem>.txt`, `.md` or `.json` for text, markdown or json."""
        return f"{stem}.{EXTENSIONS[output_format]}"

    def save(self, text: str, output_format: str = "text", stem: str | None = None) -> str:
        """Write `text` as `<stem>.<ext>` (a new stem by default) and return the file name; the file appears
        whole or not at all."""
        name = self.result_name(stem or self.new_stem(), output_format)
        self._write(name, text.encode("utf-8"))
        return name

    def save_image(self, image, stem: str, page: int) -> str:
        """A page picture as `<stem>_p<page>.png` beside the result it belongs to."""
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        name = f"{stem}_p{page}.png"
        self._write(name, buffer.getvalue())
        return name

    def _write(self, name: str, data: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=".partial-", dir=self.folder)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
            os.chmod(temporary, 0o644)
            os.replace(temporary, self.folder / name)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def locate(self, filename: str) -> tuple[Path, str]:
        """The path and media type of a saved result; ResultNotFound for any other name."""
        missing = ResultNotFound(f"No result file named {filename!r}")
        if not RESULT_NAME.match(filename):
            raise missing
        path = self.folder / filename
        if path.is_symlink() or not path.is_file() or path.resolve().parent != self.folder:
            raise missing
        if path.stat().st_nlink > 1:  # a hard link put here from elsewhere: we write every result with one link
            raise missing
        return path, MEDIA_TYPES[filename.rsplit(".", 1)[1]]

    def prune(self, max_age: float = 0, max_files: int = 0) -> int:
        """Delete results older than `max_age` seconds, then the oldest beyond `max_files` (0: no limit); the count."""
        if not self.folder.is_dir():
            return 0
        entries = []
        for path in self.folder.iterdir():
            if RESULT_NAME.match(path.name) and not path.is_symlink():
                try:
                    entries.append((path.stat().st_mtime, path))
                except FileNotFoundError:  # deleted meanwhile
                    continue
        entries.sort()
        doomed = [path for mtime, path in entries if max_age > 0 and mtime < time.time() - max_age]
        kept = len(entries) - len(doomed)
        if max_files > 0 and kept > max_files:
            expired = set(doomed)
            doomed += [path for _, path in entries if path not in expired][: kept - max_files]
        for path in doomed:
            path.unlink(missing_ok=True)
        return len(doomed)


def init_results(app: Flask, settings) -> None:
    """The result store in `app.extensions["results"]`, and the janitor that applies retention limits."""
    app.extensions["results"] = store = ResultStore(settings.results_dir)
    app.extensions["janitor"] = janitor = Janitor(settings.results_sweep_seconds)
    if settings.results_max_age > 0 or settings.results_max_files > 0:
        janitor.add(f"old result file(s) from {store.folder}",
                    lambda: store.prune(settings.results_max_age, settings.results_max_files))


def current_results() -> ResultStore:
    """The result store of the app serving this request."""
    return current_app.extensions["results"]


class Janitor:
    """Applies retention limits (OCR_RESULTS_MAX_AGE / _MAX_FILES, OCR_JOBS_MAX_AGE) in a background thread, off
    the request path, every OCR_RESULTS_SWEEP_SECONDS; it starts with its first task."""

    def __init__(self, interval: float):
        self.interval = interval
        self.tasks: list[tuple[str, Callable[[], int]]] = []
        self._stop = threading.Event()

    def add(self, what: str, prune: Callable[[], int]) -> None:
        """`prune` removes what is too old and says how many it removed; `what` names them for the log."""
        self.tasks.append((what, prune))
        if len(self.tasks) == 1:
            threading.Thread(target=self._run, name="janitor", daemon=True).start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for what, prune in list(self.tasks):
                try:
                    removed = prune()
                    if removed:
                        log.info("Removed %d %s", removed, what)
                except (OSError, sqlite3.Error):
                    log.exception("Could not remove %s", what)
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
