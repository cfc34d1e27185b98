"""gunicorn settings: one worker process owns the model; threads keep /health answering during an OCR."""
from deepseek_ocr_api.config import environment_setting

bind = f"{environment_setting('HOST')}:{environment_setting('PORT')}"
# Exactly one worker: the model lives in its memory, and CUDA does not survive fork(), so no preload_app.
workers = 1
# gthread whose client reads time out (deepseek_ocr_api/worker.py): slow clients cannot hold every thread.
worker_class = "deepseek_ocr_api.worker.ClientTimeoutWorker"
threads = int(environment_setting("THREADS"))
# The gthread worker's main loop heartbeats while requests run in threads, so this bounds a stuck
# worker, not a long OCR.
timeout = int(environment_setting("WORKER_TIMEOUT"))
graceful_timeout = int(environment_setting("WORKER_TIMEOUT"))
# No gunicorn access log: the app logs one line per request itself, with its request id, time and engine.
accesslog = None
loglevel = environment_setting("LOG_LEVEL").lower()
