"""Configuration: defaults here, overridden by `OCR_`-prefixed environment variables, then by a test mapping."""
from __future__ import annotations

import os


class Defaults:
    """Every setting the service reads, with its default; `OCR_<NAME>` in the environment overrides it."""

    ENGINE = "embedded"  # embedded (CPU, ships with the package), deepseek, or auto (deepseek when it can run)
    EMBEDDED_MODEL = "small"  # PP-OCRv6 small (more accurate) or tiny (about 3x faster)
    # The deepseek engine
    MODEL = "deepseek-community/DeepSeek-OCR-2"  # hub id or local directory
    MODEL_REVISION = ""  # hub branch, tag or commit; empty: the default branch
    DEVICE = "auto"  # auto (cuda, then mps, then cpu), cuda, cuda:N, mps, cpu
    DTYPE = "auto"  # auto (bfloat16 where supported, else float16), bfloat16, float16, float32
    ATTN = "sdpa"  # sdpa, eager, flash_attention_2 (needs the flash-attn package)
    QUANTIZATION = "none"  # none, 8bit, 4bit (bitsandbytes, CUDA only)
    MAX_NEW_TOKENS = 4096
    MODE = "gundam"  # default resolution mode; a request's `mode` field overrides it
    REPETITION_GUARD_TOKENS = 256  # stop a generation whose last N tokens loop; 0 turns the guard off
    TRUST_REMOTE_CODE = False  # DeepSeek-OCR v1 runs code from the hub: only with this set
    HOST = "0.0.0.0"
    PORT = 8031
    # gunicorn threads in the one worker: more than QUEUE_DEPTH + 1, so that with the OCR queue full some
    # threads are left for /health, / and downloads, and further OCR requests get their 503 at once; and many
    # more, because a client still sending its request holds a thread (each costs about 100 KB of memory).
    THREADS = 128
    CLIENT_IDLE_TIMEOUT = 30  # seconds a client may send nothing while its request is read; then it is dropped
    CLIENT_READ_TIMEOUT = 120  # seconds to send one whole request, headers and body; then it is dropped
    WORKER_TIMEOUT = 300  # seconds; gthread workers heartbeat from the main thread, so a long OCR is not killed
    RESULTS_DIR = "results"
    RESULTS_MAX_AGE = 0  # seconds a result file is kept; 0: forever
    RESULTS_MAX_FILES = 0  # most result files kept (oldest go first); 0: no limit
    RESULTS_SWEEP_SECONDS = 60  # how often the limits above are applied
    MAX_UPLOAD_MB = 25
    MAX_IMAGE_PIXELS = 50_000_000  # a page with more pixels (by its header, before decoding) is a 400
    # A page's long side is scaled down to this before any engine reads it: memory and time grow with every pixel,
    # and neither engine reads better beyond it (DeepSeek-OCR tiles at 1024 px; 4000 px is a 300-dpi Letter page).
    MAX_PAGE_SIDE = 4000
    MAX_ASPECT = 50  # a page whose long side is more than this many times its short side is a 400
    PDF_DPI = 144  # PDF pages are rendered at this resolution, as DeepSeek-OCR's own PDF pipeline does
    # PDFs render in a child process: it may take this long to open the PDF or render one page, and map this much.
    PDF_RENDER_TIMEOUT = 30
    PDF_RENDER_MEMORY_MB = 1024
    MAX_PAGES = 50  # most pages one request may ask for; more is a 400
    LOG_LEVEL = "INFO"
    QUEUE_DEPTH = 8  # OCR requests that may wait while one is read; beyond that: 503 with Retry-After at once
    API_KEY = ""  # one key or several, comma-separated; empty: no key needed
    CORS_ORIGINS = ""  # browser origins allowed to call the API, comma-separated ("*": any); empty: none
    DOCS_PUBLIC = True  # with an API key set: whether /docs, /redoc and /apispec.json stay open


def environment_setting(name: str) -> str:
    """One setting as gunicorn.conf.py sees it, before the app exists."""
    return os.environ.get(f"OCR_{name}", str(getattr(Defaults, name)))


def default_settings() -> dict:
    """Every setting with its default, as the app's config holds them before the environment is read."""
    return {name: getattr(Defaults, name) for name in dir(Defaults) if name.isupper()}
