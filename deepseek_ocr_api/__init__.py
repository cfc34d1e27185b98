"""deepseek-ocr-api: a self-hosted OCR HTTP service (Flask app factory)."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

from flask import Flask

from deepseek_ocr_api.config import Defaults


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then `OCR_*` environment variables, then `test_config`; start loading the engine."""
    app = Flask(__name__)
    app.config.from_object(Defaults)
    app.config.from_prefixed_env(prefix="OCR")
    if test_config:
        app.config.update(test_config)
    app.config["MAX_CONTENT_LENGTH"] = int(float(app.config["MAX_UPLOAD_MB"]) * 2**20)
    # `/results//etc/passwd` must be a plain 404, not a redirect to a merged path.
    app.url_map.merge_slashes = False
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    logging.basicConfig(level=app.config["LOG_LEVEL"], format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from deepseek_ocr_api.access import init_access
    from deepseek_ocr_api.docs import init_docs
    from deepseek_ocr_api.errors import register_error_handlers
    from deepseek_ocr_api.results import ResultsJanitor, ResultStore
    from deepseek_ocr_api.runtime import OcrRuntime
    from deepseek_ocr_api.views import register_blueprints

    register_error_handlers(app)
    init_access(app)
    app.extensions["results"] = store = ResultStore(Path(app.config["RESULTS_DIR"]))
    max_age, max_files = float(app.config["RESULTS_MAX_AGE"]), int(app.config["RESULTS_MAX_FILES"])
    if max_age > 0 or max_files > 0:
        app.extensions["results_janitor"] = ResultsJanitor(store, max_age, max_files,
                                                           float(app.config["RESULTS_SWEEP_SECONDS"]))
    OcrRuntime(app, engine=app.config.get("ENGINE_INSTANCE"))
    register_blueprints(app)
    init_docs(app)
    return app
