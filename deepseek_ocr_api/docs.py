"""Interactive docs served with no internet: Flasgger's Swagger UI at /docs and a bundled ReDoc at /redoc."""
from __future__ import annotations

from importlib import metadata

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flasgger import Swagger
from flask import Blueprint, Flask, render_template

from deepseek_ocr_api import schemas

SPEC_ROUTE = "/apispec.json"
COMPONENTS = {
    "OcrResult": schemas.OcrOut,
    "OcrBase64Request": schemas.OcrBase64In,
    "Health": schemas.HealthOut,
    "Info": schemas.InfoOut,
    "Cleanup": schemas.CleanupOut,
    "Error": schemas.ErrorOut,
}

bp = Blueprint("docs", __name__)


@bp.get("/redoc")
def redoc():
    """ReDoc page for the OpenAPI document."""
    return render_template("redoc.html", spec_url=SPEC_ROUTE)


def component_schemas() -> dict:
    """OpenAPI components generated from the marshmallow schemas."""
    spec = APISpec(title="DeepSeek-OCR API", version="1", openapi_version="3.0.3", plugins=[MarshmallowPlugin()])
    for name, schema in COMPONENTS.items():
        spec.components.schema(name, schema=schema)
    return spec.to_dict()["components"]


def init_docs(app: Flask) -> None:
    """Swagger UI at /docs, ReDoc at /redoc, the OpenAPI document at /apispec.json."""
    template = {
        "openapi": "3.0.3",
        "info": {
            "title": "DeepSeek-OCR API",
            "version": metadata.version("deepseek-ocr-api"),
            "description": "Self-hosted OCR: send an image, get its text as plain text or markdown. "
                           "自托管 OCR 服务：上传图片，返回纯文本或 Markdown。",
        },
        "components": component_schemas(),
    }
    config = {
        "openapi": "3.0.3",
        "headers": [],
        "specs": [{"endpoint": "apispec", "route": SPEC_ROUTE,
                   "rule_filter": lambda rule: not rule.rule.startswith(("/flasgger", "/static", "/docs")),
                   "model_filter": lambda tag: True}],
        "static_url_path": "/flasgger_static",
        "swagger_ui": True,
        "specs_route": "/docs/",
        "hide_top_bar": True,
    }
    Swagger(app, template=template, config=config, merge=False)
    app.register_blueprint(bp)
