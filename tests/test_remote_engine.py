"""OCR_ENGINE=openai against real OpenAI-compatible servers running here: other deepseek-ocr-api instances serving
their /v1/chat/completions, on the embedded engine and on the tiny DeepSeek checkpoint. The front keeps the guide's
contract, jobs and boxes; a remote that is slow, erroring or dies mid-document is a 503 with the reason."""
from __future__ import annotations

import base64
import socket
import threading
import time

import psutil
import pytest
import requests

from tests.pages import character_error_rate, png_bytes, prose_page
from tests.servers import guide_example, run_python, start_gunicorn
from tests.test_deepseek import tiny_checkpoint  # noqa: F401  (the fixture)
from tests.test_jobs_server import numbered_pdf, page_numbers_in, poll, submit

pytestmark = pytest.mark.slow

CONCURRENCY = 4


def served_model(url: str) -> str:
    return requests.get(f"{url}/v1/models", timeout=10).json()["data"][0]["id"]


def front_of(tmp_path_factory, name: str, backend_url: str, **settings):
    settings = {"OCR_OPENAI_CONCURRENCY": str(CONCURRENCY), **settings}
    return start_gunicorn(tmp_path_factory, name, memory_cap_mb=3072, OCR_ENGINE="openai",
                          OCR_OPENAI_BASE_URL=f"{backend_url}/v1", OCR_OPENAI_MODEL=served_model(backend_url),
                          **settings)


@pytest.fixture(scope="module")
def embedded_pair(tmp_path_factory):
    backend = start_gunicorn(tmp_path_factory, "remote-embedded", memory_cap_mb=3072)
    backend_url = next(backend)["url"]
    front = front_of(tmp_path_factory, "front-embedded", backend_url)
    try:
        yield {"front": next(front), "backend": backend_url}
    finally:
        front.close()
        backend.close()


def post(url: str, data: bytes, name: str = "page.png", **fields) -> requests.Response:
    # Connection: close, so that no idle keep-alive connection holds up the servers' graceful stop at the end.
    return requests.post(f"{url}/ocr", files={"image": (name, data)}, data=fields, timeout=180,
                         headers={"Connection": "close"})


def test_the_guide_clients_run_unchanged_in_front_of_a_model_server(embedded_pair, tmp_path):
    front = embedded_pair["front"]
    page = prose_page("en")
    (tmp_path / "document.png").write_bytes(png_bytes(page.image))
    for example in ("ocr_from_file.py", "ocr_from_base64.py"):
        result = run_python(guide_example(example, front["url"]), tmp_path)
        assert result.returncode == 0, result.stderr
        assert "✓ OCR Success!" in result.stdout
    body = post(front["url"], png_bytes(page.image)).json()
    assert body["engine"] == "openai" and body["model"] == served_model(embedded_pair["backend"])
    assert character_error_rate(page.text, body["text"]) < 0.02
    health = requests.get(f"{front['url']}/health", timeout=10).json()
    assert health["remote"]["reachable"] is True and health["batch_size"] == CONCURRENCY


def test_boxes_come_back_through_the_model_server_as_the_local_engine_gives_them(embedded_pair):
    page = png_bytes(prose_page("en").image)
    fields = {"task": "markdown", "output_format": "json", "save_to_file": "false"}
    local = post(embedded_pair["backend"], page, **fields).json()
    remote = post(embedded_pair["front"]["url"], page, **fields).json()
    width, height = local["image_width"], local["image_height"]
    assert len(remote["pages"][0]["blocks"]) == len(local["pages"][0]["blocks"]) > 3
    for near, far in zip(local["pages"][0]["blocks"], remote["pages"][0]["blocks"]):
        assert far["text"] == near["text"]
        # DeepSeek's tags carry boxes on a 0-999 grid: a pixel or two of rounding either way
        assert all(abs(a - b) <= max(width, height) / 500 for a, b in zip(near["box"], far["box"]))


def test_a_20_page_job_is_read_through_the_model_server_several_pages_at_once(embedded_pair):
    front = embedded_pair["front"]["url"]
    job = submit(front, numbered_pdf(20))
    done = poll(front, job["job_id"], seconds=240)
    assert done["status"] == "done", done
    result = requests.get(f"{front}{done['result_url']}", timeout=30).json()
    assert page_numbers_in(result["text"]) == list(range(1, 21))
    assert [page["batch_size"] for page in result["pages"]] == [CONCURRENCY] * 20
    assert result["engine"] == "openai"


def test_concurrent_clients_are_all_answered(embedded_pair):
    front = embedded_pair["front"]["url"]
    answers = {}

    def read(count):
        answers[count] = post(front, numbered_pdf(count), "doc.pdf")

    threads = [threading.Thread(target=read, args=(count,)) for count in (1, 2, 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    for count, answer in answers.items():
        assert answer.status_code == 200, answer.text
        assert page_numbers_in(answer.json()["text"]) == list(range(1, count + 1))


def test_a_model_server_that_dies_mid_document_is_a_503_with_the_reason(tmp_path_factory):
    backend = start_gunicorn(tmp_path_factory, "remote-dying", memory_cap_mb=3072)
    started = next(backend)
    backend_url = started["url"]
    front = front_of(tmp_path_factory, "front-dying", backend_url, OCR_OPENAI_CONCURRENCY="1")
    front_url = next(front)["url"]
    try:
        job = submit(front_url, numbered_pdf(20))
        deadline = time.monotonic() + 120
        while requests.get(f"{front_url}/jobs/{job['job_id']}", timeout=30).json()["pages_done"] < 3:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # The model server dies in the middle of the document: killed, its worker with it.
        server = psutil.Process(started["process"].pid)
        for process in [*server.children(recursive=True), server]:
            process.kill()
        failed = poll(front_url, job["job_id"], seconds=120)
        assert failed["status"] == "failed" and 3 <= failed["pages_done"] < 20
        assert failed["error"]["status"] == 503 and "cannot connect" in failed["error"]["detail"]["message"]
        answer = post(front_url, numbered_pdf(2), "doc.pdf")
        assert answer.status_code == 503 and answer.headers["Retry-After"]
        assert "model server" in answer.json()["detail"]["message"]
        health = requests.get(f"{front_url}/health", timeout=10).json()  # the front itself serves on
        assert health["remote"]["reachable"] is False and "cannot connect" in health["remote"]["error"]
    finally:
        front.close()
        backend.close()


def test_a_slow_model_server_is_a_503_within_the_timeout(tmp_path_factory):
    silent = socket.socket()  # accepts connections and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    url = f"http://127.0.0.1:{silent.getsockname()[1]}"
    front = start_gunicorn(tmp_path_factory, "front-slow", memory_cap_mb=3072, OCR_ENGINE="openai",
                           OCR_OPENAI_BASE_URL=f"{url}/v1", OCR_OPENAI_TIMEOUT="1")
    front_url = next(front)["url"]
    try:
        started = time.monotonic()
        answer = post(front_url, png_bytes(prose_page("en").image))
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "10"
        assert "no answer within OCR_OPENAI_TIMEOUT" in answer.json()["detail"]["message"]
        assert time.monotonic() - started < 15
    finally:
        front.close()
        silent.close()


def test_in_front_of_the_tiny_deepseek_checkpoint_the_text_is_the_models(tmp_path_factory, tiny_checkpoint):  # noqa: F811
    backend = start_gunicorn(tmp_path_factory, "remote-deepseek", OCR_ENGINE="deepseek", OCR_MODEL=str(tiny_checkpoint),
                             OCR_MAX_NEW_TOKENS="16", OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    backend_url = next(backend)["url"]
    front = front_of(tmp_path_factory, "front-deepseek", backend_url)
    front_url = next(front)["url"]
    try:
        page = png_bytes(prose_page("en").image)
        direct = post(backend_url, page, save_to_file="false").json()
        through = post(front_url, page, save_to_file="false").json()
        assert through["text"] == direct["text"] and through["model"] == str(tiny_checkpoint)
        assert through["pages"][0]["finish_reason"] == direct["pages"][0]["finish_reason"] == "max_new_tokens"
        message = {"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(page).decode()}},
            {"type": "text", "text": "Free OCR."}]}
        with requests.post(f"{front_url}/v1/chat/completions", stream=True, timeout=120, headers={"Connection": "close"},
                           json={"model": "any", "stream": True, "messages": [message]}) as streamed:
            events = [line for line in streamed.iter_lines() if line.startswith(b"data: {")]
        assert len(events) > 2  # the model server's tokens pass through as they come
    finally:
        front.close()
        backend.close()

