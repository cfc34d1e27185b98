"""`deepseek-ocr-api`: the server's own commands. `deepseek-ocr-api worker` reads job pages from Redis (RQ) with
this machine's engine; start one per GPU, on as many machines as you like, all with the same OCR_JOB_QUEUE."""
from __future__ import annotations

import argparse
import sys

from deepseek_ocr_api.settings import Settings, SettingsError


def worker(args: argparse.Namespace) -> int:
    try:
        settings = Settings.load()
    except SettingsError as exc:
        sys.exit(f"deepseek-ocr-api worker cannot start: {exc}")
    if not settings.job_queue:
        sys.exit("deepseek-ocr-api worker reads jobs from Redis: set OCR_JOB_QUEUE=redis://host:6379/0, the same "
                 "as on the web instances")
    if settings.engine == "none":
        sys.exit("deepseek-ocr-api worker reads pages itself: set OCR_ENGINE to embedded, deepseek or auto")
    from deepseek_ocr_api import create_app
    from deepseek_ocr_api.jobs.rq_queue import run_worker

    app = create_app()
    runtime = app.extensions["ocr"]
    runtime.wait_until_settled()  # the model loads once, before the first page is taken
    if not runtime.ready:
        sys.exit(f"deepseek-ocr-api worker: the {runtime.engine_name} engine failed to load: {runtime.error}")
    return 0 if run_worker(app, settings, burst=args.burst) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deepseek-ocr-api", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    worker_parser = commands.add_parser("worker", help="read job pages from Redis (OCR_JOB_QUEUE) until stopped")
    worker_parser.add_argument("--burst", action="store_true", help="stop once the queue is empty")
    worker_parser.set_defaults(run=worker)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
