"""Configuration: defaults here, overridden by `OCR_`-prefixed environment variables, then by a test mapping."""
from __future__ import annotations

import os


class Defaults:
    """Every setting the service reads, with its default; `OCR_<NAME>` in the environment overrides it."""

    ENGINE = "embedded"  # embedded (CPU, ships with the package)
    EMBEDDED_MODEL = "small"  # PP-OCRv6 small (more accurate) or tiny (about 3x faster)
    HOST = "0.0.0.0"
    PORT = 8031
    THREADS = 4  # gunicorn threads in the one worker: /health answers while an OCR runs
    WORKER_TIMEOUT = 300  # seconds; gthread workers heartbeat from the main thread, so a long OCR is not killed
    RESULTS_DIR = "results"
    MAX_UPLOAD_MB = 25
    MAX_IMAGE_PIXELS = 50_000_000
    LOG_LEVEL = "INFO"


def environment_setting(name: str) -> str:
    """One setting as gunicorn.conf.py sees it, before the app exists."""
    return os.environ.get(f"OCR_{name}", str(getattr(Defaults, name)))
