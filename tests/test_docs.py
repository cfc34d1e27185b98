"""The OpenAPI document: valid, generated from the schemas, and true to what the endpoints return."""
from __future__ import annotations

import io

from openapi_spec_validator import validate

from deepseek_ocr_api.schemas import OcrFormIn
from tests.conftest import png_bytes
from tests.pages import receipt_page


def test_openapi_document_is_valid_and_lists_every_endpoint(client):
    spec = client.get("/apispec.json").get_json()
    validate(spec)
    assert set(spec["paths"]) == {"/", "/health", "/ocr", "/ocr-base64", "/results/{filename}", "/cleanup"}
    assert spec["paths"]["/ocr"]["post"]["summary"] == "OCR from an uploaded image file."
    multipart = spec["paths"]["/ocr"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert set(multipart["properties"]) == {"image", *OcrFormIn().fields}  # the form documents every field


def test_documented_ocr_response_matches_a_real_one(client):
    schema = client.get("/apispec.json").get_json()["components"]["schemas"]["OcrResult"]
    body = client.post("/ocr", data={"image": (io.BytesIO(png_bytes(receipt_page().image)), "r.png")}).get_json()
    assert set(body) == set(schema["properties"])
    assert set(schema["required"]) <= set(body)


def test_documented_health_fields_match_a_real_response(client):
    schema = client.get("/apispec.json").get_json()["components"]["schemas"]["Health"]
    assert set(client.get("/health").get_json()) == set(schema["properties"])
