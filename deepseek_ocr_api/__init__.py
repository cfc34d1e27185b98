"""deepseek-ocr-api: a self-hosted OCR HTTP service (Flask app factory)."""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask

from deepseek_ocr_api.settings import Settings


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: settings from defaults, `OCR_*` environment variables and `test_config`, validated once
    (SettingsError names every bad value); then each extension's init_app; the engine starts loading."""
    test_config = dict(test_config or {})
    engine = test_config.pop("ENGINE_INSTANCE", None)  # tests hand in a loaded engine
    flask_config = {name: test_config.pop(name) for name in list(test_config) if name.upper() not in Settings.names()}
    settings = Settings.load(overrides=test_config)

    app = Flask(__name__)
    app.config.update(flask_config, MAX_CONTENT_LENGTH=settings.max_upload_bytes)
    app.extensions["settings"] = settings
    # `/results//etc/passwd` must be a plain 404, not a redirect to a merged path.
    app.url_map.merge_slashes = False
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from deepseek_ocr_api.access import init_access
    from deepseek_ocr_api.docs import init_docs
    from deepseek_ocr_api.errors import register_error_handlers
    from deepseek_ocr_api.jobs import init_jobs
    from deepseek_ocr_api.metrics import init_metrics
    from deepseek_ocr_api.results import init_results
    from deepseek_ocr_api.runtime import OcrRuntime
    from deepseek_ocr_api.views import register_blueprints

    register_error_handlers(app)
    init_access(app, settings)
    init_results(app, settings)
    OcrRuntime(engine).init_app(app, settings)
    init_jobs(app, settings)
    init_metrics(app, settings)
    register_blueprints(app)
    init_docs(app, settings)
    return app
