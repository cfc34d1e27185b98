"""gunicorn settings: one worker process owns the model; threads keep /health answering during an OCR."""
import sys

from deepseek_ocr_api.settings import Settings, SettingsError

try:
    settings = Settings.load(warn_unknown=False)
except SettingsError as exc:  # before any worker starts: one clear line, not a traceback per boot attempt
    sys.exit(f"deepseek-ocr-api cannot start: {exc}")

bind = f"{settings.host}:{settings.port}"
# Exactly one worker: the model lives in its memory, and CUDA does not survive fork(), so no preload_app.
workers = 1
# gthread whose client reads time out (deepseek_ocr_api/worker.py): slow clients cannot hold every thread.
worker_class = "deepseek_ocr_api.worker.ClientTimeoutWorker"
threads = settings.threads
# The gthread worker's main loop heartbeats while requests run in threads, so this bounds a stuck
# worker, not a long OCR.
timeout = settings.worker_timeout
graceful_timeout = settings.worker_timeout
# No gunicorn access log: the app logs one line per request itself, with its request id, time and engine.
accesslog = None
loglevel = settings.log_level.lower()
# gunicorn 25's control socket is one path per user (~/.gunicorn/gunicorn.ctl): a second instance on the machine
# would announce the same one. Nothing here uses gunicornc, so there is none.
control_socket_disable = True
