"""Who may call the API (optional API keys, CORS allow-list), request ids and one log line per request,
security headers."""
from __future__ import annotations

import hmac
import logging
import re
import time
import uuid

from flask import Flask, current_app, g, request

from deepseek_ocr_api.errors import Unauthorized
from deepseek_ocr_api.runtime import current_runtime
from deepseek_ocr_api.settings import current_settings

log = logging.getLogger("deepseek_ocr_api.requests")

OPEN_PATHS = ("/health",)
METRICS_PATH = "/metrics"
QUIET_PATHS = ("/health", METRICS_PATH)  # polled every few seconds by load balancers and Prometheus: logged at DEBUG
DOCS_PATHS = ("/docs", "/redoc", "/apispec.json", "/flasgger_static", "/static/redoc/")
CORS_REQUEST_HEADERS = "Content-Type, X-API-Key, Authorization, X-Request-ID"
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def presented_key() -> bytes | None:
    key = request.headers.get("X-API-Key")
    if not key:  # absent, or sent empty beside a Bearer key
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        key = value.strip() if scheme.lower() == "bearer" else None
    return key.encode() if key else None


def is_authorised() -> bool:
    """Whether this request carries one of the keys; compared in constant time against every key."""
    keys = current_app.extensions["api_keys"]  # bytes, for compare_digest
    if not keys:
        return True
    presented = presented_key()
    if presented is None:
        return False
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(presented, key)
    return matched


def public_path(path: str) -> bool:
    settings = current_settings()
    return (path in OPEN_PATHS or (settings.docs_public and path.startswith(DOCS_PATHS))
            or (settings.metrics_public and path == METRICS_PATH))


def loggable(text: str) -> str:
    """Client text made safe for a log line: control characters escaped, so `%0a` in a path forges no line."""
    return "".join(character if character.isprintable() else repr(character)[1:-1] for character in text)


def init_access(app: Flask, settings) -> None:
    """Register the hooks every request passes through."""
    app.extensions["api_keys"] = [key.encode() for key in settings.api_key]

    @app.before_request
    def start_request():
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if REQUEST_ID.match(incoming) else uuid.uuid4().hex
        g.started = time.monotonic()
        g.authorised = is_authorised()
        if request.method != "OPTIONS" and not g.authorised and not public_path(request.path):
            reason = "No API key was sent" if presented_key() is None else "The API key is not valid"
            raise Unauthorized(f"{reason}; this server requires one (OCR_API_KEY)")

    allowed_origins = {origin.rstrip("/") for origin in settings.cors_origins}

    @app.after_request
    def finish_request(response):
        response.headers.update(SECURITY_HEADERS)
        origin = request.headers.get("Origin", "")
        if origin and ("*" in allowed_origins or origin.rstrip("/") in allowed_origins):
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = "X-Request-ID, Retry-After"
            if request.method == "OPTIONS":
                response.headers["Access-Control-Allow-Methods"] = "GET, POST, DELETE, OPTIONS"
                response.headers["Access-Control-Allow-Headers"] = CORS_REQUEST_HEADERS
                response.headers["Access-Control-Max-Age"] = "600"
        response.vary.add("Origin")
        request_id = g.get("request_id")
        if request_id:
            response.headers["X-Request-ID"] = request_id
            # Never the image or the text: path, status, time, engine, and for an error its title.
            level = logging.DEBUG if request.path in QUIET_PATHS and response.status_code < 400 else logging.INFO
            error = g.get("error_title")
            log.log(level, "%s %s %s %d %.0f ms engine=%s%s", request_id, loggable(request.method),
                    loggable(request.path), response.status_code, (time.monotonic() - g.started) * 1000,
                    current_runtime().engine_name, f' error="{error}"' if error else "")
        return response
