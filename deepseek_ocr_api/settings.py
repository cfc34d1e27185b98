"""Every setting, typed and validated once: defaults, then `OCR_<NAME>` environment variables, then a test mapping."""
from __future__ import annotations

import dataclasses
import difflib
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import current_app
from marshmallow import Schema, ValidationError, fields, validate

from deepseek_ocr_api.engines import ENGINE_NAMES
from deepseek_ocr_api.engines.deepseek.modes import MODE_NAMES
from deepseek_ocr_api.engines.deepseek.settings import ATTENTIONS, DEVICE_PATTERN, DTYPE_NAMES, QUANTIZATIONS
from deepseek_ocr_api.engines.embedded import MODEL_SIZES

log = logging.getLogger(__name__)

PREFIX = "OCR_"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingsError(ValueError):
    """Settings the server cannot start with; the message names each variable, its value and what is allowed."""


class Choice(fields.String):
    """One of a few words, in any case (`OCR_ENGINE=DeepSeek` is deepseek)."""

    def __init__(self, *choices: str, upper: bool = False):
        self.upper = upper
        super().__init__(validate=validate.OneOf(choices, error="must be one of: {choices}"))

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        return text.upper() if self.upper else text.lower()


class CommaList(fields.Field):
    """Comma-separated words (`a, b`), blanks dropped; a list or tuple from a test mapping is taken as it is."""

    def _deserialize(self, value, attr, data, **kwargs):
        items = value if isinstance(value, (list, tuple)) else str(value or "").split(",")
        return tuple(str(item).strip() for item in items if str(item).strip())


def at_least(minimum: float) -> validate.Range:
    return validate.Range(min=minimum, error="must be at least {min}")


def setting(default: Any, field: fields.Field) -> Any:
    """A dataclass field whose environment value `field` parses and validates."""
    return dataclasses.field(default=default, metadata={"field": field})


@dataclass(frozen=True)
class Settings:
    """Every setting the service reads; `OCR_<NAME in capitals>` in the environment overrides the default."""

    engine: str = setting("embedded", Choice(*ENGINE_NAMES))  # auto: deepseek when it can run, else embedded
    embedded_model: str = setting("small", Choice(*MODEL_SIZES))
    # CPU threads of each embedded-engine session; 0: one per CPU the process may run on (taskset, cpusets)
    engine_threads: int = setting(0, fields.Integer(validate=at_least(0)))
    # The deepseek engine
    model: str = setting("deepseek-community/DeepSeek-OCR-2", fields.String(validate=validate.Length(min=1)))
    model_revision: str = setting("", fields.String())  # hub branch, tag or commit; empty: the default branch
    device: str = setting("auto", fields.String(validate=validate.Regexp(
        DEVICE_PATTERN, error="must be auto, cpu, mps, cuda or cuda:N")))  # auto: cuda, then mps, then cpu
    dtype: str = setting("auto", Choice(*DTYPE_NAMES))  # auto: bfloat16 where supported, else float16
    attn: str = setting("sdpa", Choice(*ATTENTIONS))  # flash_attention_2 needs the flash-attn package
    quantization: str = setting("none", Choice(*QUANTIZATIONS))  # 8bit, 4bit: bitsandbytes, CUDA only
    max_new_tokens: int = setting(4096, fields.Integer(validate=at_least(1)))
    mode: str = setting("gundam", Choice(*MODE_NAMES))  # default resolution mode; a request's `mode` overrides it
    # Stop a generation whose last N tokens loop; 0 turns the guard off.
    repetition_guard_tokens: int = setting(256, fields.Integer(validate=at_least(0)))
    trust_remote_code: bool = setting(False, fields.Boolean())  # DeepSeek-OCR v1 runs code from the hub
    # Pages of one resolution mode read together in one generate; 0: auto (8 on a CUDA GPU, 1 elsewhere: on a CPU
    # a batch reads no faster, see the README). A batch waits up to BATCH_WAIT_MS for waiting pages to fill it.
    batch_size: int = setting(0, fields.Integer(validate=validate.Range(min=0, max=64, error="must be 0 to 64")))
    batch_wait_ms: float = setting(10.0, fields.Float(validate=at_least(0)))
    # OCR_ENGINE=openai: an OpenAI-compatible model server (vLLM, SGLang, Ollama, another deepseek-ocr-api) reads
    openai_base_url: str = setting("", fields.String(validate=validate.Regexp(
        r"^$|^https?://", error="must be an http(s):// URL such as http://127.0.0.1:8000/v1")))
    openai_model: str = setting("deepseek-ai/DeepSeek-OCR", fields.String(validate=validate.Length(min=1)))
    openai_api_key: str = setting("", fields.String())  # sent as a bearer token; empty: none
    openai_concurrency: int = setting(8, fields.Integer(validate=validate.Range(min=1, max=256,
                                                                                error="must be 1 to 256")))
    openai_timeout: float = setting(300.0, fields.Float(validate=validate.Range(min=0, min_inclusive=False)))
    openai_connect_timeout: float = setting(5.0, fields.Float(validate=validate.Range(min=0, min_inclusive=False)))
    # JSON object merged into every chat-completion request (vLLM: skip_special_tokens, vllm_xargs; see the README)
    openai_extra_body: str = setting("{}", fields.String())
    # The server
    host: str = setting("0.0.0.0", fields.String(validate=validate.Length(min=1)))
    port: int = setting(8031, fields.Integer(validate=validate.Range(min=1, max=65535, error="must be 1 to 65535")))
    # gunicorn threads in the one worker: more than QUEUE_DEPTH + 1, so that with the OCR queue full some
    # threads are left for /health, / and downloads, and further OCR requests get their 503 at once; and many
    # more, because a client still sending its request holds a thread (each costs about 100 KB of memory).
    threads: int = setting(128, fields.Integer(validate=at_least(1)))
    # Seconds a client may send nothing while its request is read, and to send one whole request; then it is dropped.
    client_idle_timeout: float = setting(30.0, fields.Float(validate=validate.Range(min=0, min_inclusive=False)))
    client_read_timeout: float = setting(120.0, fields.Float(validate=validate.Range(min=0, min_inclusive=False)))
    # gthread workers heartbeat from the main thread, so this bounds a stuck worker, not a long OCR.
    worker_timeout: int = setting(300, fields.Integer(validate=at_least(1)))
    log_level: str = setting("INFO", Choice(*LOG_LEVELS, upper=True))
    # OCR requests that may wait while one is read; beyond that: 503 with Retry-After at once.
    queue_depth: int = setting(8, fields.Integer(validate=at_least(0)))
    # Results
    results_dir: str = setting("results", fields.String(validate=validate.Length(min=1)))
    results_max_age: float = setting(0.0, fields.Float(validate=at_least(0)))  # seconds; 0: forever
    results_max_files: int = setting(0, fields.Integer(validate=at_least(0)))  # oldest go first; 0: no limit
    results_sweep_seconds: float = setting(60.0, fields.Float(validate=validate.Range(min=0, min_inclusive=False)))
    # Inputs
    max_upload_mb: float = setting(25.0, fields.Float(validate=validate.Range(min=0, min_inclusive=False)))
    # A page with more pixels (by its header, before decoding) is a 400.
    max_image_pixels: int = setting(50_000_000, fields.Integer(validate=at_least(1)))
    # A page's long side is scaled down to this before any engine reads it: memory and time grow with every pixel,
    # and neither engine reads better beyond it (DeepSeek-OCR tiles at 1024 px; 4000 px is a 300-dpi Letter page).
    max_page_side: int = setting(4000, fields.Integer(validate=at_least(64)))
    max_aspect: float = setting(50.0, fields.Float(validate=at_least(1)))  # long side / short side beyond: a 400
    pdf_dpi: float = setting(144.0, fields.Float(validate=validate.Range(min=18, max=1200, error="must be 18 to 1200")))
    # PDFs render in a child process: it may take this long to open the PDF or render one page, and map this much.
    pdf_render_timeout: float = setting(30.0, fields.Float(validate=validate.Range(min=0, min_inclusive=False)))
    pdf_render_memory_mb: int = setting(1024, fields.Integer(validate=at_least(256)))
    max_pages: int = setting(50, fields.Integer(validate=at_least(1)))  # most pages one request may ask for
    # Access
    api_key: tuple[str, ...] = setting((), CommaList())  # keys, comma-separated; none: no key needed
    cors_origins: tuple[str, ...] = setting((), CommaList())  # browser origins, comma-separated ("*": any)
    docs_public: bool = setting(True, fields.Boolean())  # with keys set: /docs, /redoc and /apispec.json stay open
    metrics: bool = setting(True, fields.Boolean())  # GET /metrics (Prometheus)
    metrics_public: bool = setting(False, fields.Boolean())  # with keys set: /metrics open without one
    # /v1/chat/completions: hosts whose http(s) image URLs the server may fetch (none: every URL is refused)
    fetch_allow_hosts: tuple[str, ...] = setting((), CommaList())
    fetch_max_mb: float = setting(10.0, fields.Float(validate=validate.Range(min=0, min_inclusive=False)))
    fetch_timeout: float = setting(10.0, fields.Float(validate=validate.Range(min=0, min_inclusive=False)))
    # Jobs (POST /jobs). Empty: the embedded store (SQLite in <results_dir>/jobs), read by this server's own
    # engine; redis://host:port/db: Redis + RQ, read by `deepseek-ocr-api worker` processes.
    job_queue: str = setting("", fields.String(validate=validate.Regexp(
        r"^$|^rediss?://", error="must be empty (the embedded store) or a redis:// URL")))
    jobs_max_age: float = setting(86400.0, fields.Float(validate=at_least(0)))  # seconds a finished job is kept; 0: forever
    jobs_max_pending: int = setting(100, fields.Integer(validate=at_least(1)))  # queued and running jobs; then 503
    jobs_max_bytes: int = setting(2**30, fields.Integer(validate=at_least(1)))  # their uploads together; then 507
    # Redis mode: a page may take this long on a worker; a worker killed meanwhile has its page requeued about
    # this long (plus OCR_WORKER_MAINTENANCE_SECONDS) after the page began.
    job_page_timeout: int = setting(600, fields.Integer(validate=at_least(1)))
    worker_maintenance_seconds: int = setting(30, fields.Integer(validate=at_least(1)))

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 2**20)

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None,
             warn_unknown: bool = True) -> Settings:
        """Defaults, then `OCR_*` variables of `environ` (the process's by default), then `overrides` keyed by
        setting name in capitals. SettingsError names every bad value at once; an `OCR_*` variable that is no
        setting is logged (once: create_app does it, gunicorn's config and worker pass warn_unknown=False)."""
        environ = os.environ if environ is None else environ
        names = {field.name.upper(): field for field in dataclasses.fields(cls)}
        raw = {name: environ[PREFIX + name] for name in names if PREFIX + name in environ}
        for name, value in (overrides or {}).items():
            if name.upper() not in names:
                raise SettingsError(f"{name} is not a setting; the settings are: {', '.join(names)}")
            raw[name.upper()] = value
        schema = Schema.from_dict({name: names[name].metadata["field"] for name in raw})()
        try:
            parsed = schema.load(raw)
        except ValidationError as exc:
            problems = [f"{PREFIX}{name}={raw[name]!r}: {' '.join(map(str, messages)).rstrip('.')}"
                        for name, messages in exc.normalized_messages().items()]
            raise SettingsError("Invalid settings: " + "; ".join(problems)) from None
        unknown = [name for name in environ if warn_unknown and name.startswith(PREFIX)
                   and name[len(PREFIX):] not in names]
        for name in unknown:
            close = difflib.get_close_matches(name[len(PREFIX):], names, n=1)
            log.warning("%s is not a setting of this server and is ignored%s", name,
                        f"; did you mean {PREFIX}{close[0]}?" if close else "")
        settings = cls(**{name.lower(): value for name, value in parsed.items()})
        if settings.engine == "none" and not settings.job_queue:
            raise SettingsError("Invalid settings: OCR_ENGINE=none reads nothing itself and needs OCR_JOB_QUEUE="
                                "redis://host:port/db, where `deepseek-ocr-api worker` processes read the pages")
        if settings.engine == "openai" and not settings.openai_base_url:
            raise SettingsError("Invalid settings: OCR_ENGINE=openai reads through a model server and needs "
                                "OCR_OPENAI_BASE_URL, such as http://127.0.0.1:8000/v1 for `vllm serve`")
        try:
            extra = json.loads(settings.openai_extra_body)
        except ValueError as exc:
            raise SettingsError(f"Invalid settings: OCR_OPENAI_EXTRA_BODY={settings.openai_extra_body!r} is not "
                                f"JSON ({exc})") from None
        if not isinstance(extra, dict):
            raise SettingsError(f"Invalid settings: OCR_OPENAI_EXTRA_BODY={settings.openai_extra_body!r} must be "
                                "a JSON object")
        return settings

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(field.name.upper() for field in dataclasses.fields(cls))


def current_settings() -> Settings:
    """The settings of the app serving this request."""
    return current_app.extensions["settings"]
