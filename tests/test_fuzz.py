"""schemathesis against the server's own OpenAPI document: no 5xx, and every answer matches what it documents."""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.apps import make_app

pytestmark = pytest.mark.slow  # fuzzing the API (schemathesis): left out of `make test-fast`

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
CASES_PER_OPERATION = 50  # fifteen operations: about 750 requests, the same ones every run


@pytest.fixture(scope="module")
def fuzzed_app(tmp_path_factory, embedded_engine):
    return make_app(tmp_path_factory.mktemp("fuzz"), embedded_engine)


def operation_ids():
    return ["GET /", "GET /health", "POST /ocr", "POST /ocr-base64", "GET /results/{filename}", "POST /cleanup",
            "POST /jobs", "GET /jobs", "GET /jobs/{job_id}", "DELETE /jobs/{job_id}", "GET /jobs/{job_id}/result",
            "GET /jobs/{job_id}/events", "GET /metrics", "GET /v1/models", "POST /v1/chat/completions"]


@pytest.mark.parametrize("label", operation_ids())
def test_fuzz_operation(fuzzed_app, label):
    method, path = label.split(" ")
    schema = schemathesis.openapi.from_wsgi("/apispec.json", fuzzed_app)
    operation = schema[path][method]

    @given(case=operation.as_strategy())
    @settings(max_examples=CASES_PER_OPERATION, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def fuzz(case):
        response = case.call()
        case.validate_response(response, checks=CHECKS)

    fuzz()


def test_the_fuzzed_operations_are_all_the_documented_ones(fuzzed_app):
    schema = schemathesis.openapi.from_wsgi("/apispec.json", fuzzed_app)
    documented = {f"{result.ok().method.upper()} {result.ok().path}" for result in schema.get_all_operations()}
    assert documented == set(operation_ids())
