"""Against a real gunicorn: the guide's clients run unchanged, /health answers during an OCR, docs render."""
from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import threading
import time

import pytest
import requests

from tests.pages import character_error_rate, normalise, png_bytes, receipt_page, slow_page
from tests.servers import guide_example, run_python

pytestmark = pytest.mark.slow  # real gunicorn servers: left out of `make test-fast`


def test_guide_ocr_from_file_runs_unchanged(server, tmp_path, document_png):
    result = run_python(guide_example("ocr_from_file.py", server["url"]), tmp_path)
    assert result.returncode == 0, result.stderr
    assert "✓ OCR Success!" in result.stdout
    assert "Optical character recognition turns pictures" in result.stdout
    saved = re.search(r"Saved to: (\S+)", result.stdout).group(1)
    assert (server["results"] / saved).read_text(encoding="utf-8").startswith("Reading Printed Pages")


def test_guide_ocr_from_base64_runs_unchanged(server, tmp_path, document_png):
    result = run_python(guide_example("ocr_from_base64.py", server["url"]), tmp_path)
    assert result.returncode == 0, result.stderr
    assert "✓ OCR Success!" in result.stdout and "Saved to: ocr_result_" in result.stdout


def test_guide_api_client_script_runs_unchanged(server, tmp_path, document_png):
    result = run_python(guide_example("api_client.py", server["url"]), tmp_path, "document.png")
    assert result.returncode == 0, result.stderr
    assert "Status: healthy" in result.stdout and "Device: cpu" in result.stdout
    assert "✓ Success! / 成功！" in result.stdout
    text = result.stdout.split("-" * 60)[1].strip()
    assert character_error_rate(normalise(document_png.text, "en"), normalise(text, "en")) < 0.02


def test_guide_download_example_fetches_a_saved_result(server, tmp_path):
    page = receipt_page()
    body = requests.post(f"{server['url']}/ocr", files={"image": ("r.png", png_bytes(page.image), "image/png")}).json()
    source = guide_example("download_result.py", server["url"]).replace(
        "ocr_result_20250127_143022.txt", body["output_file"])
    result = run_python(source, tmp_path)
    assert "✓ File downloaded successfully!" in result.stdout, result.stderr
    assert (tmp_path / "downloaded_result.txt").read_text(encoding="utf-8") == body["text"]


def test_guide_cleanup_and_info(server):
    cleanup = requests.post(f"{server['url']}/cleanup").json()
    assert cleanup["message"] == "Memory cleanup completed / 内存清理完成"
    assert cleanup["gpu_memory_allocated"] is None and cleanup["process_memory_after"].endswith(" MB")
    info = requests.get(f"{server['url']}/").json()
    assert info["status"] == "running" and info["engine"] == "embedded" and "POST /ocr" in info["endpoints"]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_readme_curl_form_string_command_works(server, tmp_path, document_png):
    # The guide's `-F "prompt=<image>\nFree OCR."` makes curl read a file named "image>\nFree OCR.";
    # --form-string sends the text as typed, and the server reads its literal \n as a newline.
    result = subprocess.run(
        ["curl", "-sS", "-X", "POST", f"{server['url']}/ocr", "-F", "image=@document.png",
         "--form-string", "prompt=<image>\\nFree OCR.", "-F", "save_to_file=true"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    body = json.loads(result.stdout)
    assert body["success"] is True and body["task"] == "free_ocr"
    assert body["text"].startswith("Reading Printed Pages")


def test_health_answers_within_a_second_while_an_ocr_runs(server):
    _, big = slow_page()
    payload = {"image_base64": base64.b64encode(png_bytes(big)).decode(), "save_to_file": False}
    ocr_done = {}

    def slow_ocr():
        ocr_done["response"] = requests.post(f"{server['url']}/ocr-base64", json=payload, timeout=120)

    worker = threading.Thread(target=slow_ocr)
    worker.start()
    deadline = time.monotonic() + 30
    in_flight = False
    while time.monotonic() < deadline and not in_flight:
        started = time.monotonic()
        health = requests.get(f"{server['url']}/health", timeout=5)
        elapsed = time.monotonic() - started
        assert elapsed < 1.0, f"/health took {elapsed:.2f} s during an OCR"
        in_flight = health.json()["requests_in_flight"] == 1
    worker.join(120)
    assert in_flight, "never saw the OCR request in flight"
    assert ocr_done["response"].status_code == 200


def test_sigterm_during_an_ocr_lets_it_finish_and_answer(tmp_path_factory):
    import signal

    from tests.servers import start_gunicorn

    lifecycle = start_gunicorn(tmp_path_factory, "sigterm")
    gunicorn = next(lifecycle)
    page, big = slow_page()
    answer = {}
    worker = threading.Thread(target=lambda: answer.update(response=requests.post(
        f"{gunicorn['url']}/ocr", files={"image": ("big.png", png_bytes(big), "image/png")}, timeout=120)))
    worker.start()
    deadline = time.monotonic() + 30
    while requests.get(f"{gunicorn['url']}/health", timeout=5).json()["requests_in_flight"] != 1:
        assert time.monotonic() < deadline, "never saw the OCR request in flight"
        time.sleep(0.05)
    gunicorn["process"].send_signal(signal.SIGTERM)
    worker.join(120)
    response = answer["response"]
    assert response.status_code == 200
    assert character_error_rate(normalise(page.text, "en"), normalise(response.json()["text"], "en")) < 0.02
    assert gunicorn["process"].wait(60) == 0  # then it shut down cleanly
    with pytest.raises(StopIteration):
        next(lifecycle)
