"""GET /metrics, parsed with prometheus_client's own parser: the counters move by exactly what the requests did."""
from __future__ import annotations

import io
import time

from prometheus_client.parser import text_string_to_metric_families

from tests.apps import ScriptedEngine, make_app
from tests.pages import png_bytes, prose_page


def scrape(client, headers=None) -> dict[tuple[str, tuple], float]:
    """Every sample as {(name, sorted labels): value}."""
    response = client.get("/metrics", headers=headers or {})
    assert response.status_code == 200 and response.mimetype == "text/plain"
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.get_data(as_text=True)) for sample in family.samples}


def value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_requests_pages_and_seconds_move_by_what_the_requests_did(client):
    before = scrape(client)
    image = png_bytes(prose_page("en").image)
    for _ in range(2):
        assert client.post("/ocr", data={"image": (io.BytesIO(image), "page.png")}).status_code == 200
    assert client.post("/ocr", data={}).status_code == 400
    after = scrape(client)

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("ocr_http_requests_total", route="/ocr", method="POST", status="200") == 2
    assert moved("ocr_http_requests_total", route="/ocr", method="POST", status="400") == 1
    assert moved("ocr_http_request_duration_seconds_count", route="/ocr") == 3
    assert moved("ocr_pages_total", engine="embedded", outcome="complete") == 2
    assert moved("ocr_page_seconds_count", engine="embedded", mode="native") == 2
    assert moved("ocr_page_seconds_sum", engine="embedded", mode="native") > 0
    assert moved("ocr_http_requests_total", route="/metrics", method="GET", status="200") == 1  # the first scrape
    assert value(after, "ocr_result_files") == 2 and value(after, "ocr_result_files_bytes") > 1000
    assert value(after, "ocr_engine_state", engine="embedded", model=after_model(after), state="ready") == 1
    assert value(after, "ocr_engine_load_seconds") >= 0
    assert value(after, "ocr_requests_in_flight") == 0 and value(after, "ocr_queue_capacity") == 8
    assert not any(name.startswith("ocr_gpu_memory") for name, _ in after)  # no GPU here


def after_model(samples) -> str:
    return next(dict(labels)["model"] for name, labels in samples if name == "ocr_engine_state")


def test_a_failed_page_counts_as_an_error_and_jobs_are_counted_by_state(tmp_path):
    client = make_app(tmp_path, ScriptedEngine(infer_errors=[MemoryError()])).test_client()
    assert client.post("/ocr", data={"image": (io.BytesIO(png_bytes(prose_page("en").image)), "p.png")}).status_code == 507
    job = client.post("/jobs", data={"image": (io.BytesIO(png_bytes(prose_page("en").image)), "p.png")}).get_json()
    deadline = time.monotonic() + 30
    while client.get(job["status_url"]).get_json()["status"] != "done":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    samples = scrape(client)
    assert value(samples, "ocr_pages_total", engine="scripted", outcome="error") == 1
    assert value(samples, "ocr_pages_total", engine="scripted", outcome="complete") == 1
    assert value(samples, "ocr_jobs", state="done") == 1 and value(samples, "ocr_jobs", state="queued") == 0


def test_with_keys_metrics_need_one_unless_made_public(tmp_path):
    closed = make_app(tmp_path / "closed", ScriptedEngine(), API_KEY="k").test_client()
    assert closed.get("/metrics").status_code == 401
    assert scrape(closed, {"X-API-Key": "k"})
    public = make_app(tmp_path / "public", ScriptedEngine(), API_KEY="k", METRICS_PUBLIC=True).test_client()
    assert scrape(public)
    off = make_app(tmp_path / "off", ScriptedEngine(), METRICS=False).test_client()
    assert off.get("/metrics").status_code == 404
