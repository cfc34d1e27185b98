"""Every failure answers with the contract's body `{"detail": {error, message, suggestions}}` and the right code."""
from __future__ import annotations

import base64
import io
import threading

import pytest
from PIL import Image

from deepseek_ocr_api import create_app
from tests.apps import ScriptedEngine, make_app
from tests.attacks import png_claiming
from tests.pages import character_error_rate, normalise, png_bytes, prose_page, receipt_page


def assert_contract_error(response, status):
    assert response.status_code == status
    assert response.is_json
    detail = response.get_json()["detail"]
    assert set(detail) == {"error", "message", "suggestions"}
    assert " / " in detail["error"]  # bilingual: English / 中文
    assert isinstance(detail["suggestions"], list)
    return detail


def post_image(client, data, **fields):
    return client.post("/ocr", data={"image": (io.BytesIO(data), "page.png"), **fields})


def test_missing_image_is_400(client):
    detail = assert_contract_error(client.post("/ocr", data={"prompt": "<image>\nFree OCR."}), 400)
    assert "'image'" in detail["message"]


def test_image_sent_as_text_field_is_400(client):
    detail = assert_contract_error(client.post("/ocr", data={"image": "/path/to/image.png"}), 400)
    assert "as text, not as a file" in detail["message"]


def test_file_under_another_field_name_is_400_naming_it(client):
    response = client.post("/ocr", data={"file": (io.BytesIO(b"\x89PNG\r\n\x1a\n"), "page.png")})
    assert "received file fields: file" in assert_contract_error(response, 400)["message"]


def test_not_an_image_is_400(client):
    detail = assert_contract_error(post_image(client, b"<html>this is not an image</html>"), 400)
    assert "not a supported image" in detail["message"]


def test_empty_file_is_400(client):
    assert_contract_error(post_image(client, b""), 400)


def test_truncated_image_is_400(client):
    data = png_bytes(receipt_page().image)
    detail = assert_contract_error(post_image(client, data[: len(data) // 2]), 400)
    assert "truncated or corrupt" in detail["message"]


def test_image_over_the_pixel_limit_is_400_before_decoding(tmp_path, embedded_engine):
    client = make_app(tmp_path, embedded_engine, MAX_IMAGE_PIXELS=10_000).test_client()
    detail = assert_contract_error(post_image(client, png_bytes(Image.new("L", (200, 200), 255))), 400)
    assert "over the limit of 10000" in detail["message"]


@pytest.mark.parametrize("width, height", [(8000, 8000), (30000, 30000)])
def test_decompression_bomb_is_400_without_decoding(client, width, height):
    detail = assert_contract_error(post_image(client, png_claiming(width, height)), 400)
    assert "pixels" in detail["message"] and "truncated" not in detail["message"]


def test_bad_base64_is_400(client):
    detail = assert_contract_error(client.post("/ocr-base64", json={"image_base64": "data:image/png;base64,@@not base64@@"}), 400)
    assert "not valid base64" in detail["message"]


def test_base64_of_something_else_is_400(client):
    data = base64.b64encode(b"hello world, not a picture").decode()
    assert_contract_error(client.post("/ocr-base64", json={"image_base64": data}), 400)


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'"a string"', b""])
def test_non_object_json_body_is_400(client, body):
    response = client.post("/ocr-base64", data=body, content_type="application/json")
    assert "JSON object" in assert_contract_error(response, 400)["message"]


@pytest.mark.parametrize("payload, field", [
    ({}, "image_base64"),
    ({"image_base64": 12}, "image_base64"),
    ({"image_base64": "aGk=", "save_to_file": "maybe"}, "save_to_file"),
    ({"image_base64": "aGk=", "colour": "red"}, "colour"),
    ({"image_base64": "aGk=", "prompt": "x" * 5000}, "prompt"),
])
def test_bad_json_fields_are_400_naming_the_field(client, payload, field):
    assert field in assert_contract_error(client.post("/ocr-base64", json=payload), 400)["message"]


def test_bad_form_field_is_400(client):
    response = post_image(client, png_bytes(receipt_page().image), save_to_file="perhaps")
    assert "save_to_file" in assert_contract_error(response, 400)["message"]


def test_unknown_route_is_404(client):
    assert_contract_error(client.get("/no-such-endpoint"), 404)


def test_wrong_method_is_405_in_the_contract_shape(client):
    assert_contract_error(client.get("/ocr"), 405)


def test_upload_over_the_limit_is_413(tmp_path, embedded_engine):
    client = make_app(tmp_path, embedded_engine, MAX_UPLOAD_MB=0.01).test_client()
    detail = assert_contract_error(post_image(client, b"\x89PNG\r\n\x1a\n" + b"0" * 20_000), 413)
    assert "Reduce image size / 减小图片尺寸" in detail["suggestions"]


def test_ocr_while_the_engine_loads_is_503_and_health_says_loading(tmp_path):
    gate = threading.Event()
    app = create_app({"TESTING": True, "RESULTS_DIR": str(tmp_path), "ENGINE_INSTANCE": ScriptedEngine(load_gate=gate)})
    client = app.test_client()
    health = client.get("/health")
    assert health.status_code == 200
    assert health.get_json()["status"] == "loading" and health.get_json()["model_loaded"] is False
    response = post_image(client, png_bytes(receipt_page().image))
    assert "still loading" in assert_contract_error(response, 503)["message"]
    assert response.headers["Retry-After"] == "5"
    gate.set()
    assert app.extensions["ocr"].wait_until_settled(10)
    assert post_image(client, png_bytes(receipt_page().image)).status_code == 200


def test_engine_that_failed_to_load_is_503_with_the_reason(tmp_path):
    engine = ScriptedEngine(load_error=RuntimeError("model file missing: /models/det.onnx"))
    app = create_app({"TESTING": True, "RESULTS_DIR": str(tmp_path), "ENGINE_INSTANCE": engine})
    app.extensions["ocr"].wait_until_settled(10)
    client = app.test_client()
    health = client.get("/health")
    assert health.status_code == 503
    assert health.get_json()["status"] == "unhealthy"
    assert "model file missing" in health.get_json()["engine_error"]
    detail = assert_contract_error(post_image(client, png_bytes(receipt_page().image)), 503)
    assert "failed to load" in detail["message"] and "model file missing" in detail["message"]


def test_out_of_memory_is_507_and_the_next_request_succeeds(tmp_path):
    app = make_app(tmp_path, ScriptedEngine(infer_errors=[MemoryError()]))
    client = app.test_client()
    detail = assert_contract_error(post_image(client, png_bytes(receipt_page().image)), 507)
    assert "Reduce image size / 减小图片尺寸" in detail["suggestions"]
    # The process's memory ran out, not a GPU's: nothing about GPUs on a CPU engine.
    assert detail["error"] == "Out of memory / 内存不足" and not any("GPU" in text for text in detail["suggestions"])
    assert post_image(client, png_bytes(receipt_page().image)).status_code == 200


def test_json_nested_too_deep_is_400(client):
    response = client.post("/ocr-base64", data=b'{"image_base64": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
                           content_type="application/json")
    assert "must be a JSON object" in assert_contract_error(response, 400)["message"]


def test_a_thin_strip_is_400_naming_the_aspect_limit(client):
    detail = assert_contract_error(post_image(client, png_bytes(Image.new("L", (20, 1200), 255))), 400)
    assert "60 times its short side, over the limit of 50 (OCR_MAX_ASPECT)" in detail["message"]


def test_a_page_larger_than_the_side_limit_is_read_scaled_down(tmp_path, embedded_engine):
    client = make_app(tmp_path, embedded_engine, MAX_PAGE_SIDE=1000).test_client()
    page = prose_page("en")
    body = post_image(client, png_bytes(page.image)).get_json()
    assert page.image.width > 1000 and max(body["image_width"], body["image_height"]) == 1000
    assert round(body["image_width"] / body["image_height"], 2) == round(page.image.width / page.image.height, 2)
    assert character_error_rate(normalise(page.text, "en"), normalise(body["text"], "en")) < 0.02


def test_unexpected_error_is_500_without_internals(tmp_path, caplog):
    app = make_app(tmp_path, ScriptedEngine(infer_errors=[RuntimeError("secret path /srv/internal/weights")]))
    response = post_image(app.test_client(), png_bytes(receipt_page().image))
    detail = assert_contract_error(response, 500)
    assert "secret" not in response.get_data(as_text=True)
    assert "unexpected error" in detail["message"]
    assert "secret path" in caplog.text  # the traceback went to the log


def test_unwritable_results_folder_still_returns_the_text(tmp_path, embedded_engine):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the results folder should be")
    client = make_app(tmp_path, embedded_engine, RESULTS_DIR=str(blocker / "results")).test_client()
    body = post_image(client, png_bytes(receipt_page().image)).get_json()
    assert body["success"] is True and "TOTAL" in body["text"]
    assert body["output_file"] is None
    assert "could not be saved" in body["message"]


def test_cleanup_retries_a_failed_load_and_the_server_recovers(tmp_path):
    engine = ScriptedEngine(load_error=RuntimeError("CUDA error: all CUDA-capable devices are busy"))
    app = make_app(tmp_path, engine)
    client = app.test_client()
    assert client.get("/health").status_code == 503
    assert post_image(client, png_bytes(receipt_page().image)).status_code == 503
    engine.load_error = None  # the GPU is free again
    cleanup = client.post("/cleanup").get_json()
    assert "loading again" in cleanup["message"]
    assert app.extensions["ocr"].wait_until_settled(10)
    assert client.get("/health").get_json()["status"] == "healthy"
    assert post_image(client, png_bytes(receipt_page().image)).status_code == 200
    assert client.post("/cleanup").get_json()["message"] == "Memory cleanup completed / 内存清理完成"


@pytest.mark.parametrize("filename", ["../../etc/passwd", "报告 📄.png", "a\\b\\..\\c.png", "x" * 1000 + ".png"])
def test_hostile_and_unicode_filenames_are_ignored(tmp_path, embedded_engine, filename):
    app = make_app(tmp_path, embedded_engine)
    response = app.test_client().post("/ocr", data={"image": (io.BytesIO(png_bytes(receipt_page().image)), filename)})
    assert response.status_code == 200
    # The client's name is never used: the only file written is the result, under its generated name.
    assert sorted(path.name for path in (tmp_path / "results").iterdir()) == [response.get_json()["output_file"]]
