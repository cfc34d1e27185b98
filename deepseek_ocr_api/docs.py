"""The OpenAPI document and the endpoint list of `/`, both generated from the URL map, the views' declarations and
the marshmallow schemas, so that they cannot drift; served with no internet (Swagger UI at /docs, ReDoc at /redoc).
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flasgger import Swagger
from flask import Blueprint, Flask, current_app, render_template
from marshmallow import Schema

from deepseek_ocr_api import schemas

SPEC_ROUTE = "/apispec.json"
TITLE = "DeepSeek-OCR API"
COMPONENTS = {
    "OcrResult": schemas.OcrOut,
    "OcrUpload": schemas.OcrUploadIn,
    "OcrBase64Request": schemas.OcrBase64In,
    "Health": schemas.HealthOut,
    "Info": schemas.InfoOut,
    "Cleanup": schemas.CleanupOut,
    "Error": schemas.ErrorOut,
    "JobLinks": schemas.JobLinksOut,
    "Job": schemas.JobOut,
    "JobList": schemas.JobListOut,
}
# What each error status means wherever it is declared; a view may say more.
ERRORS = {
    400: "Invalid input: a missing or unreadable upload, a bad field, an unsupported prompt or mode",
    401: "No API key, or a wrong one (OCR_API_KEY is set)",
    404: "No such result file",
    409: "The job is not in a state that allows this",
    408: "The request body stopped arriving",
    413: "Upload over OCR_MAX_UPLOAD_MB",
    503: "The engine is loading or failed to load, or the queue is full (see Retry-After)",
    507: "Out of memory",
}
SECURITY_SCHEMES = {
    "ApiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "BearerKey": {"type": "http", "scheme": "bearer", "description": "The same key as `Authorization: Bearer <key>`"},
}
KEY_REQUIRED = [{"ApiKeyHeader": []}, {"BearerKey": []}]

bp = Blueprint("docs", __name__)


@dataclass(frozen=True)
class Documented:
    """What a view declares for the OpenAPI document and for `/`; its docstring's first line is the summary."""

    tag: str
    zh: str  # the endpoint's name in Chinese, for `/`
    body: type[Schema] | None = None
    body_type: str = "application/json"
    body_example: dict[str, Any] | None = None  # what Swagger UI's "Try it out" starts from
    json_body: type[Schema] | None = None  # also takes this body as application/json
    ok: str = "Success"
    ok_status: int = 200
    response: type[Schema] | dict[str, Any] | None = None  # a schema, or OpenAPI content by media type
    errors: dict[int, str | tuple[str, type[Schema]]] = field(default_factory=dict)
    parameters: list[dict[str, Any]] = field(default_factory=list)
    open: bool = False  # answers without an API key


def documented(tag: str, zh: str, **declaration) -> Callable:
    """Declare a view's request body, answer and errors; docs.py builds the OpenAPI operation from them."""
    def declare(view: Callable) -> Callable:
        view.documented = Documented(tag, zh, **declaration)
        return view
    return declare


@bp.get("/redoc")
@documented("docs", "API 文档")
def redoc():
    """ReDoc page for the OpenAPI document."""
    return render_template("redoc.html", spec_url=SPEC_ROUTE)


def _response(description: str, content: type[Schema] | dict[str, Any] | None) -> dict[str, Any]:
    if content is None:
        return {"description": description}
    if isinstance(content, dict):
        return {"description": description, "content": content}
    return {"description": description, "content": {"application/json": {"schema": content}}}


def docstring(view: Callable) -> tuple[str, str]:
    """A view's summary (its docstring's first line) and the description below it."""
    summary, _, description = inspect.cleandoc(view.__doc__ or "").partition("\n")
    return summary.strip(), description.strip()


def operation(view: Callable, keys_on: bool) -> dict[str, Any]:
    """One OpenAPI operation from a view's docstring and declaration."""
    declared: Documented = view.documented
    summary, description = docstring(view)
    result: dict[str, Any] = {"summary": summary, "tags": [declared.tag]}
    if description:
        result["description"] = description
    if declared.parameters:
        result["parameters"] = declared.parameters
    if declared.body is not None:
        media = {"schema": declared.body}
        if declared.body_example is not None:
            media["example"] = declared.body_example
        result["requestBody"] = {"required": True, "content": {declared.body_type: media}}
        if declared.json_body is not None:
            result["requestBody"]["content"]["application/json"] = {"schema": declared.json_body}
    responses = {str(declared.ok_status): _response(declared.ok, declared.response)}
    errors = dict(declared.errors)
    if keys_on and not declared.open:
        errors.setdefault(401, ERRORS[401])
    for status in sorted(errors):
        said = errors[status]
        text, schema = said if isinstance(said, tuple) else (said or ERRORS[status], schemas.ErrorOut)
        responses[str(status)] = _response(text, schema)
    result["responses"] = responses
    if keys_on:
        result["security"] = [{}, *KEY_REQUIRED] if declared.open else KEY_REQUIRED
    return result


def documented_rules(app: Flask):
    """(rule, method, view) for every route that declares itself, in the URL map's order."""
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if hasattr(view, "documented"):
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield rule, method, view


def openapi_path(rule) -> str:
    """`/results/<path:filename>` as OpenAPI writes it: `/results/{filename}`."""
    path = rule.rule
    for argument in rule.arguments:
        path = path.replace(f"<path:{argument}>", f"{{{argument}}}").replace(f"<{argument}>", f"{{{argument}}}")
    return path


def openapi_document(app: Flask, keys_on: bool) -> dict[str, Any]:
    spec = APISpec(title=TITLE, version=metadata.version("deepseek-ocr-api"), openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin()],
                   info={"description": "Self-hosted OCR: send an image, a PDF or a TIFF, get its text as plain text, "
                                        "markdown or JSON with boxes. 自托管 OCR 服务：上传图片或文档，返回纯文本、"
                                        "Markdown 或带坐标的 JSON。"})
    for name, schema in COMPONENTS.items():
        spec.components.schema(name, schema=schema)
    if keys_on:
        for name, scheme in SECURITY_SCHEMES.items():
            spec.components.security_scheme(name, scheme)
    operations: dict[str, dict[str, Any]] = {}
    for rule, method, view in documented_rules(app):
        if view.documented.tag != "docs":
            operations.setdefault(openapi_path(rule), {})[method.lower()] = operation(view, keys_on)
    for path, path_operations in operations.items():
        spec.path(path=path, operations=path_operations)
    return spec.to_dict()


def endpoint_list(app: Flask) -> dict[str, str]:
    """`METHOD /path` -> what it does (and the fields it takes) / its Chinese name, for `/`."""
    listed = {}
    for rule, method, view in documented_rules(app):
        declared: Documented = view.documented
        summary = docstring(view)[0].rstrip(".")
        if declared.body is not None:
            kind = "multipart" if declared.body_type.startswith("multipart/") else "JSON"
            body_fields = declared.body().fields
            names = sorted(body_fields, key=lambda name: not body_fields[name].required)  # the file first
            summary += f" ({kind}: {', '.join(names)})"
        listed[f"{method} {openapi_path(rule)}"] = f"{summary} / {declared.zh}"
    listed["GET /docs"] = "Swagger UI / 交互式文档"
    return listed


def current_endpoints() -> dict[str, str]:
    return current_app.extensions["endpoints"]


def init_docs(app: Flask, settings) -> None:
    """Swagger UI at /docs, ReDoc at /redoc, the OpenAPI document at /apispec.json; the endpoint list of `/`."""
    app.register_blueprint(bp)
    config = {
        "openapi": "3.0.3",
        "headers": [],
        # Every path comes from openapi_document(); Flasgger parses no docstring.
        "specs": [{"endpoint": "apispec", "route": SPEC_ROUTE, "rule_filter": lambda rule: False,
                   "model_filter": lambda tag: True}],
        "static_url_path": "/flasgger_static",
        "swagger_ui": True,
        "specs_route": "/docs/",
        "hide_top_bar": True,
        "auth": {},  # Flasgger's page writes `let auth_config = <this>;` (Python's None is a JavaScript error)
        # Swagger UI keeps a key typed into Authorize across reloads of /docs.
        "ui_params": {"persistAuthorization": True},
    }
    Swagger(app, template=openapi_document(app, keys_on=bool(settings.api_key)), config=config, merge=False)
    app.extensions["endpoints"] = endpoint_list(app)
