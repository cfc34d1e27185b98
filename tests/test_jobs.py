"""Jobs through the test client: POST /jobs, status, result, events, cancel, list, keys, limits and retention, on the
embedded store. The real engine reads; the scripted one stands in where a page must be held or must fail."""
from __future__ import annotations

import base64
import io
import json
import threading
import time

import pytest
from PIL import Image

from deepseek_ocr_api.settings import Settings, SettingsError
from tests.apps import ScriptedEngine, make_app
from tests.pages import character_error_rate, page_images, pdf_bytes, png_bytes, prose_page

PAGE_SIZES = [(200 + 10 * index, 100) for index in range(6)]


def sized_pdf(sizes=PAGE_SIZES) -> bytes:
    """A PDF whose pages the scripted engine reads as their sizes, twice over at OCR_PDF_DPI=144 ("400x200", ...)."""
    return pdf_bytes([Image.new("RGB", size, "white") for size in sizes], resolution=72)


def read_as(sizes) -> list[str]:
    return [f"{2 * width}x{2 * height}" for width, height in sizes]


def submit(client, data: bytes, name="document.pdf", headers=None, **fields):
    return client.post("/jobs", data={"image": (io.BytesIO(data), name), **fields}, headers=headers or {})


def wait_for(client, job_id, statuses=("done", "failed", "cancelled"), headers=None, seconds=60):
    deadline = time.monotonic() + seconds
    while True:
        body = client.get(f"/jobs/{job_id}", headers=headers or {}).get_json()
        if body["status"] in statuses:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.05)


def events(client, job_id, headers=None) -> list[tuple[str, str]]:
    """(event, data) of the whole event stream; it ends when the job has."""
    stream = client.get(f"/jobs/{job_id}/events", headers=headers or {})
    assert stream.status_code == 200 and stream.mimetype == "text/event-stream"
    found = []
    for block in stream.get_data(as_text=True).split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if line.startswith(("event: ", "data: ")))
        if "event" in lines:
            found.append((lines["event"], lines["data"]))
    return found


class SecondPageOutOfMemory(ScriptedEngine):
    reads = 0

    def infer(self, image, task, mode, generation=None):
        self.reads += 1
        if self.reads == 2:
            raise MemoryError()
        return super().infer(image, task, mode)


@pytest.fixture
def gate():
    opened = threading.Event()
    yield opened
    opened.set()  # never leave the consumer thread waiting


def test_a_pdf_job_reads_every_page_and_its_result_is_what_ocr_answers(client, app):
    page = prose_page("en")
    data = pdf_bytes([page.image, page.image])
    queued = submit(client, data)
    assert queued.status_code == 202
    job_id = queued.get_json()["job_id"]
    assert queued.headers["Location"] == f"/jobs/{job_id}" == queued.get_json()["status_url"]
    assert queued.get_json()["status"] == "queued"

    status = wait_for(client, job_id)
    assert status["status"] == "done" and status["pages_done"] == status["pages_total"] == 2
    assert [read["page"] for read in status["pages"]] == [1, 2]
    assert status["started_at"] <= status["finished_at"] and status["error"] is None

    result = client.get(f"/jobs/{job_id}/result").get_json()
    direct = client.post("/ocr", data={"image": (io.BytesIO(data), "document.pdf")}).get_json()
    assert result["text"] == direct["text"]
    assert character_error_rate(page.text, result["pages"][0]["text"]) < 0.02
    assert {key: result[key] for key in ("engine", "model", "page_count", "pages_read", "document_type")} == \
        {key: direct[key] for key in ("engine", "model", "page_count", "pages_read", "document_type")}
    assert result["output_file"] == status["output_file"]
    assert client.get(f"/results/{result['output_file']}").get_data(as_text=True) == result["text"]


def test_the_json_body_of_ocr_base64_submits_a_job_too(client):
    encoded = base64.b64encode(png_bytes(prose_page("en").image)).decode()
    queued = client.post("/jobs", json={"image_base64": encoded, "output_format": "markdown", "save_to_file": False})
    assert queued.status_code == 202
    status = wait_for(client, queued.get_json()["job_id"])
    result = client.get(status["result_url"]).get_json()
    assert result["output_format"] == "markdown" and result["output_file"] is None and "Optical" in result["text"]


def test_a_bad_upload_is_refused_at_once_not_failed_later(client):
    refused = submit(client, b"this is no image", name="notes.png")
    assert refused.status_code == 400 and "detail" in refused.get_json()
    assert client.post("/jobs", data={}).status_code == 400
    assert submit(client, sized_pdf(), pages="9").status_code == 400  # the PDF has 6 pages
    assert client.get("/jobs").get_json()["total"] == 0


def test_events_send_each_page_then_done_and_a_late_client_gets_everything(tmp_path):
    client = make_app(tmp_path, ScriptedEngine()).test_client()
    job_id = submit(client, sized_pdf()).get_json()["job_id"]
    wait_for(client, job_id)
    received = events(client, job_id)
    assert [event for event, _ in received] == ["page"] * 6 + ["done"]
    assert [json.loads(data)["text"] for _, data in received[:6]] == read_as(PAGE_SIZES)
    assert json.loads(received[-1][1])["pages_done"] == 6
    resumed = client.get(f"/jobs/{job_id}/events", headers={"Last-Event-ID": "4"}).get_data(as_text=True)
    assert resumed.count("event: page") == 2 and "id: 5" in resumed and "id: 4" not in resumed


def test_result_is_a_409_until_done_and_cancel_stops_between_pages_keeping_what_was_read(tmp_path, gate):
    engine = ScriptedEngine(infer_gate=gate)
    client = make_app(tmp_path, engine).test_client()
    running = submit(client, sized_pdf()).get_json()["job_id"]
    queued = submit(client, sized_pdf()).get_json()["job_id"]
    assert wait_for(client, running, ("running",))["queue_position"] is None
    assert client.get(f"/jobs/{queued}").get_json()["queue_position"] == 1  # behind the running one
    early = client.get(f"/jobs/{running}/result")
    assert early.status_code == 409 and "running" in early.get_json()["detail"]["message"]

    cancelled = client.delete(f"/jobs/{queued}")
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    assert client.delete(f"/jobs/{running}").get_json()["status"] == "cancelled"
    gate.set()  # the page being read finishes; no further page starts
    time.sleep(0.5)
    stopped = client.get(f"/jobs/{running}").get_json()
    assert stopped["status"] == "cancelled" and stopped["pages_done"] == len(stopped["pages"]) == 1
    assert client.get(f"/jobs/{queued}").get_json()["pages_done"] == 0
    assert client.get(f"/jobs/{running}/result").status_code == 409
    assert events(client, running)[-1][0] == "cancelled"
    assert client.delete(f"/jobs/{queued}").status_code == 200  # cancelling again is harmless


def test_a_finished_job_cannot_be_cancelled(tmp_path):
    client = make_app(tmp_path, ScriptedEngine()).test_client()
    job_id = submit(client, sized_pdf()).get_json()["job_id"]
    wait_for(client, job_id)
    refused = client.delete(f"/jobs/{job_id}")
    assert refused.status_code == 409 and refused.get_json()["detail"]["error"].startswith("Conflict")


def test_a_page_that_runs_out_of_memory_fails_the_job_with_the_error_ocr_would_give(tmp_path):
    client = make_app(tmp_path, SecondPageOutOfMemory()).test_client()
    job_id = submit(client, sized_pdf()).get_json()["job_id"]
    failed = wait_for(client, job_id)
    assert failed["status"] == "failed" and failed["error"]["status"] == 507 and failed["pages_done"] == 1
    assert failed["error"]["detail"]["error"] == "Out of memory / 内存不足"
    assert events(client, job_id)[-1][0] == "failed"
    assert client.get(f"/jobs/{job_id}/result").status_code == 409
    assert client.get("/health").get_json()["status"] == "healthy"  # the server goes on


def test_each_key_sees_only_its_own_jobs(tmp_path):
    client = make_app(tmp_path, ScriptedEngine(), API_KEY="alpha,beta").test_client()
    alpha, beta = {"X-API-Key": "alpha"}, {"Authorization": "Bearer beta"}
    assert submit(client, sized_pdf()).status_code == 401
    job_id = submit(client, sized_pdf(), headers=alpha).get_json()["job_id"]
    wait_for(client, job_id, headers=alpha)
    for path in (f"/jobs/{job_id}", f"/jobs/{job_id}/result", f"/jobs/{job_id}/events"):
        assert client.get(path, headers=beta).status_code == 404
        assert client.get(path).status_code == 401
    assert client.delete(f"/jobs/{job_id}", headers=beta).status_code == 404
    assert client.get("/jobs", headers=beta).get_json()["total"] == 0
    assert [job["job_id"] for job in client.get("/jobs", headers=alpha).get_json()["jobs"]] == [job_id]


def test_jobs_are_listed_newest_first_a_page_at_a_time(tmp_path):
    client = make_app(tmp_path, ScriptedEngine()).test_client()
    made = [submit(client, sized_pdf(PAGE_SIZES[:1])).get_json()["job_id"] for _ in range(3)]
    listed = client.get("/jobs?limit=2").get_json()
    assert listed["total"] == 3 and [job["job_id"] for job in listed["jobs"]] == made[::-1][:2]
    assert [job["job_id"] for job in client.get("/jobs?limit=2&offset=2").get_json()["jobs"]] == made[:1]
    assert client.get("/jobs?limit=0").status_code == 400
    assert client.get("/jobs?colour=red").status_code == 400


def test_too_many_pending_jobs_is_a_503_with_retry_after_and_too_many_bytes_a_507(tmp_path, gate):
    client = make_app(tmp_path, ScriptedEngine(infer_gate=gate), JOBS_MAX_PENDING=2, JOBS_MAX_BYTES=50_000).test_client()
    small = sized_pdf(PAGE_SIZES[:1])
    assert submit(client, small).status_code == 202
    assert submit(client, small).status_code == 202
    busy = submit(client, small)
    assert busy.status_code == 503 and int(busy.headers["Retry-After"]) >= 1
    assert "OCR_JOBS_MAX_PENDING" in busy.get_json()["detail"]["message"]
    gate.set()
    wait_for(client, client.get("/jobs").get_json()["jobs"][0]["job_id"])
    large = png_bytes(Image.effect_noise((200, 200), 60).convert("RGB"))  # about 60 KB, over the 50,000 bytes allowed
    full = submit(client, large, name="noise.png")
    assert full.status_code == 507 and "OCR_JOBS_MAX_BYTES" in full.get_json()["detail"]["message"]


def test_finished_jobs_and_their_uploads_go_after_jobs_max_age(tmp_path):
    client = make_app(tmp_path, ScriptedEngine(), JOBS_MAX_AGE=1.0, RESULTS_SWEEP_SECONDS=0.1).test_client()
    job_id = submit(client, sized_pdf()).get_json()["job_id"]
    wait_for(client, job_id)
    uploads = tmp_path / "results" / "jobs" / "uploads"
    # A finished job's upload goes right after the job is marked done (a moment later), not OCR_JOBS_MAX_AGE later.
    deadline = time.monotonic() + 0.5
    while any(uploads.iterdir()):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    deadline = time.monotonic() + 10
    while client.get(f"/jobs/{job_id}").status_code != 404:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    client.application.extensions["janitor"].stop()


def test_jobs_queued_before_a_restart_are_read_after_it(tmp_path, gate):
    first = make_app(tmp_path, ScriptedEngine(infer_gate=gate)).test_client()
    job_id = submit(first, sized_pdf()).get_json()["job_id"]
    wait_for(first, job_id, ("running",))
    # A second app on the same results folder is the server after a restart; the first one's reader stays stuck.
    second = make_app(tmp_path, ScriptedEngine()).test_client()
    done = wait_for(second, job_id)
    assert done["status"] == "done" and [read["page"] for read in done["pages"]] == [1, 2, 3, 4, 5, 6]


def test_engine_none_needs_a_job_queue():
    with pytest.raises(SettingsError, match="OCR_JOB_QUEUE"):
        Settings.load(environ={"OCR_ENGINE": "none"})
    with pytest.raises(SettingsError, match="OCR_JOB_QUEUE"):
        Settings.load(environ={"OCR_JOB_QUEUE": "http://example"})
    assert Settings.load(environ={"OCR_ENGINE": "none", "OCR_JOB_QUEUE": "redis://localhost:6379/0"}).engine == "none"


def test_many_pages_of_one_job_come_back_in_document_order(tmp_path):
    client = make_app(tmp_path, ScriptedEngine()).test_client()
    sizes = [(100 + index, 50) for index in range(12)]
    job_id = submit(client, sized_pdf(sizes), pages="2-5,9").get_json()["job_id"]
    result = client.get(wait_for(client, job_id)["result_url"]).get_json()
    assert [page["page"] for page in result["pages"]] == [2, 3, 4, 5, 9]
    assert [page["text"] for page in result["pages"]] == read_as(sizes[number - 1] for number in (2, 3, 4, 5, 9))
    assert result["page_count"] == 12 and result["pages_read"] == 5


def test_images_are_jobs_of_one_page(client):
    job_id = submit(client, png_bytes(page_images(1)[0]), name="page.png").get_json()["job_id"]
    status = wait_for(client, job_id)
    assert status["document_type"] == "image" and status["pages_total"] == 1
