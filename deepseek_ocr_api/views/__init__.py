"""HTTP views, one blueprint per concern."""
from __future__ import annotations

from flask import Flask

from deepseek_ocr_api.views import health, info, jobs, maintenance, metrics, ocr, openai, results


def register_blueprints(app: Flask) -> None:
    for module in (info, health, ocr, jobs, results, maintenance, metrics, openai):
        app.register_blueprint(module.bp)
