"""The OpenAPI document and `/`'s endpoint list: valid, generated from the schemas and the URL map, true to what the
endpoints return, and usable with keys on."""
from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import threading

import pytest
from openapi_spec_validator import validate
from werkzeug.serving import make_server

from deepseek_ocr_api.schemas import OcrBase64In, OcrFormIn
from tests.apps import ScriptedEngine, make_app
from tests.pages import png_bytes, receipt_page

ROUTES = {"/", "/health", "/ocr", "/ocr-base64", "/results/{filename}", "/cleanup", "/jobs", "/jobs/{job_id}",
          "/jobs/{job_id}/result", "/jobs/{job_id}/events", "/metrics", "/v1/models", "/v1/chat/completions"}


def resolve(spec: dict, schema: dict) -> dict:
    return spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]] if "$ref" in schema else schema


def test_openapi_document_is_valid_and_lists_every_endpoint(client):
    spec = client.get("/apispec.json").get_json()
    validate(spec)
    assert set(spec["paths"]) == ROUTES
    assert spec["paths"]["/ocr"]["post"]["summary"] == "OCR from an uploaded image file, PDF or multi-page TIFF."
    multipart = spec["paths"]["/ocr"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert set(resolve(spec, multipart)["properties"]) == {"image", *OcrFormIn().fields}  # every form field
    assert spec["paths"]["/ocr"]["post"]["responses"]["507"]["description"] == "Out of memory"
    assert "securitySchemes" not in spec["components"]  # no keys configured


def test_no_request_field_is_pre_filled_for_try_it_out(client):
    """Swagger UI fills a form from examples and defaults; a pre-filled prompt broke the curl it shows."""
    schemas = client.get("/apispec.json").get_json()["components"]["schemas"]
    for name in ("OcrUpload", "OcrBase64Request"):
        for field, schema in schemas[name]["properties"].items():
            assert "example" not in schema, (name, field)
            assert schema.get("default") in (None, True, False), (name, field, schema.get("default"))


def test_the_endpoint_list_of_slash_comes_from_the_url_map_and_the_schemas(client):
    endpoints = client.get("/").get_json()["endpoints"]
    assert {key.split(" ", 1)[1] for key in endpoints} >= ROUTES
    for field in ("task", "ref", "output_format", "return_image", "pages", "mode"):
        assert field in endpoints["POST /ocr"] and field in endpoints["POST /ocr-base64"]
    assert endpoints["POST /ocr"].index("image") < endpoints["POST /ocr"].index("prompt")  # the file first
    assert all(name in endpoints["POST /ocr-base64"] for name in OcrBase64In().fields)
    assert endpoints["GET /health"].endswith("/ 健康检查与内存统计")


def test_with_keys_the_document_declares_both_key_schemes(tmp_path, embedded_engine):
    client = make_app(tmp_path, embedded_engine, API_KEY="secret").test_client()
    spec = client.get("/apispec.json").get_json()  # docs stay public by default
    validate(spec)
    schemes = spec["components"]["securitySchemes"]
    assert schemes["ApiKeyHeader"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert schemes["BearerKey"]["scheme"] == "bearer"
    ocr = spec["paths"]["/ocr"]["post"]
    assert ocr["security"] == [{"ApiKeyHeader": []}, {"BearerKey": []}] and "401" in ocr["responses"]
    assert {} in spec["paths"]["/health"]["get"]["security"]  # open without a key


def test_documented_ocr_response_matches_a_real_one(client):
    schema = client.get("/apispec.json").get_json()["components"]["schemas"]["OcrResult"]
    body = client.post("/ocr", data={"image": (io.BytesIO(png_bytes(receipt_page().image)), "r.png")}).get_json()
    assert set(body) == set(schema["properties"])
    assert set(schema["required"]) <= set(body)


def test_documented_health_fields_match_a_real_response(client):
    schema = client.get("/apispec.json").get_json()["components"]["schemas"]["Health"]
    assert set(client.get("/health").get_json()) == set(schema["properties"])


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def open_in_chromium(url: str, folder) -> tuple[str, list[str], list[str]]:
    """Load `url` in headless Chromium: the page's DOM, the URLs the page itself requested (from the net log), and
    its console messages."""
    net_log = folder / "net-log.json"
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", f"--user-data-dir={folder / 'profile'}",
         "--enable-logging=stderr", "--v=0", f"--log-net-log={net_log}", "--net-log-capture-mode=Default",
         "--virtual-time-budget=15000", "--dump-dom", url],
        capture_output=True, text=True, timeout=120)
    events = json.loads(net_log.read_text())["events"]
    origin = url.split("/", 3)[:3]
    # Requests the page made carry its origin as initiator; Chromium's own (updates, accounts) carry none.
    requested = sorted({event["params"]["url"] for event in events
                        if event.get("params", {}).get("initiator") == "/".join(origin)})
    console = re.findall(r":CONSOLE[^\]]*\] (.*)", result.stderr)
    return result.stdout, requested, console


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (.ci/run installs it)")
@pytest.mark.parametrize("keys", ["", "secret"])
@pytest.mark.parametrize("path, rendered", [("/docs/", "/ocr-base64"), ("/redoc", "OCR from a base64-encoded image")])
def test_docs_pages_render_offline_with_no_outside_request_and_no_console_error(tmp_path, keys, path, rendered):
    app = make_app(tmp_path, ScriptedEngine(), API_KEY=keys)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        dom, requested, console = open_in_chromium(f"http://127.0.0.1:{server.server_port}{path}", tmp_path)
    finally:
        server.shutdown()
    assert rendered in dom
    if keys and path == "/docs/":
        assert "Authorize" in dom  # the security schemes give Swagger UI its button
    assert requested and all(url.startswith(f"http://127.0.0.1:{server.server_port}/") for url in requested), requested
    assert console == [], console
