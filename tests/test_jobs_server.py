"""Jobs on a real gunicorn with the embedded store: a 20-page PDF polled to the end, events page by page, cancel,
SIGTERM and restart, 30 concurrent jobs, /ocr and /health while jobs run, and the deepseek-ocr command line."""
from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.pages import character_error_rate, pdf_bytes, png_bytes, prose_page, render_lines
from tests.servers import start_gunicorn

pytestmark = pytest.mark.slow  # real gunicorn servers: left out of `make test-fast`

CLI = Path(sys.executable).with_name("deepseek-ocr")


def numbered_pdf(pages: int = 20) -> bytes:
    """Pages that say which they are, so a page read twice, lost or misplaced shows in the text."""
    return pdf_bytes([render_lines([f"Page {number} of the report", "Revenue grew in every quarter."], size=30,
                                   width=900) for number in range(1, pages + 1)])


def submit(url: str, data: bytes, name: str = "report.pdf", **fields) -> dict:
    response = requests.post(f"{url}/jobs", files={"image": (name, data)}, data=fields, timeout=60)
    assert response.status_code == 202, response.text
    return response.json()


def poll(url: str, job_id: str, until=("done", "failed", "cancelled"), seconds: float = 240) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        status = requests.get(f"{url}/jobs/{job_id}", timeout=30).json()
        if status["status"] in until:
            return status
        assert time.monotonic() < deadline, {key: value for key, value in status.items() if key != "pages"}
        time.sleep(0.2)


def page_numbers_in(text: str) -> list[int]:
    return [int(number) for number in re.findall(r"^Page\s*(\d+)", text, re.M)]


def watch_events(url: str, job_id: str, arrivals: list) -> None:
    """Record (seconds, event, data) of each event as it arrives."""
    with requests.get(f"{url}/jobs/{job_id}/events", stream=True, timeout=(10, 240)) as stream:
        event = None
        for line in stream.iter_lines(decode_unicode=True):
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event:
                arrivals.append((time.monotonic(), event, json.loads(line[6:])))
                if event in ("done", "failed", "cancelled"):
                    return


def test_a_20_page_pdf_job_is_polled_to_the_end_while_its_events_arrive_page_by_page(server):
    url = server["url"]
    job = submit(url, numbered_pdf())
    arrivals: list = []
    watcher = threading.Thread(target=watch_events, args=(url, job["job_id"], arrivals))
    watcher.start()
    done = poll(url, job["job_id"])
    seen_done = time.monotonic()
    watcher.join(60)
    assert done["status"] == "done" and done["pages_done"] == done["pages_total"] == 20
    events = [event for _, event, _ in arrivals]
    assert events == ["page"] * 20 + ["done"]
    first_page = arrivals[0][0]
    assert seen_done - first_page > 2, "the first page's event came only when the job was over"
    assert sorted(data["page"] for _, event, data in arrivals if event == "page") == list(range(1, 21))

    result = requests.get(f"{url}{done['result_url']}", timeout=30).json()
    assert page_numbers_in(result["text"]) == list(range(1, 21))
    assert result["pages_read"] == 20 and result["text"].count("<--- Page Split --->") == 19
    saved = requests.get(f"{url}/results/{result['output_file']}", timeout=30)
    assert saved.status_code == 200 and saved.text == result["text"]


def test_a_job_cancelled_halfway_stops_and_keeps_its_pages(server):
    url = server["url"]
    job = submit(url, numbered_pdf())
    poll(url, job["job_id"], until=("running",))
    deadline = time.monotonic() + 120
    while requests.get(f"{url}/jobs/{job['job_id']}", timeout=30).json()["pages_done"] < 3:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    cancelled = requests.delete(f"{url}/jobs/{job['job_id']}", timeout=30)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    time.sleep(3)  # the page being read finishes; nothing after it starts
    status = requests.get(f"{url}/jobs/{job['job_id']}", timeout=30).json()
    assert status["status"] == "cancelled" and 3 <= status["pages_done"] < 20
    assert [page["page"] for page in status["pages"]] == list(range(1, status["pages_done"] + 1))
    assert requests.get(f"{url}{job['result_url']}", timeout=30).status_code == 409


def test_a_job_survives_sigterm_and_finishes_after_the_restart_with_every_page_read_once(tmp_path_factory, tmp_path):
    results = tmp_path / "results"
    first = start_gunicorn(tmp_path_factory, "before-restart", OCR_RESULTS_DIR=str(results))
    url = next(first)["url"]
    job = submit(url, numbered_pdf())
    deadline = time.monotonic() + 120
    while requests.get(f"{url}/jobs/{job['job_id']}", timeout=30).json()["pages_done"] < 3:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    watcher = threading.Thread(target=watch_events, args=(url, job["job_id"], []), daemon=True)
    watcher.start()
    time.sleep(0.5)
    stopping = time.monotonic()
    first.close()  # SIGTERM, as systemd or Docker stop a server; the job is in the middle
    assert time.monotonic() - stopping < 15, "an open event stream held the server's shutdown"
    watcher.join(5)
    assert not watcher.is_alive()
    second = start_gunicorn(tmp_path_factory, "after-restart", OCR_RESULTS_DIR=str(results))
    url = next(second)["url"]
    try:
        done = poll(url, job["job_id"])
        assert done["status"] == "done"
        result = requests.get(f"{url}{done['result_url']}", timeout=30).json()
        assert page_numbers_in(result["text"]) == list(range(1, 21))
        assert [page["page"] for page in result["pages"]] == list(range(1, 21))
    finally:
        second.close()


def test_30_concurrent_jobs_lose_and_mix_up_nothing_while_ocr_and_health_answer(server):
    url = server["url"]
    tickets = [f"Ticket {4100 + index}" for index in range(30)]

    def one_job(ticket: str) -> dict:
        image = render_lines([ticket, "Please keep this receipt."], size=30)
        return submit(url, png_bytes(image), name=f"{ticket}.png")

    with ThreadPoolExecutor(30) as pool:
        jobs = list(pool.map(one_job, tickets))
    # While they run: 20 clients watch event streams, /ocr reads a page, /health answers fast.
    watchers = [threading.Thread(target=watch_events, args=(url, job["job_id"], []), daemon=True)
                for job in jobs[-20:]]
    for watcher in watchers:
        watcher.start()
    time.sleep(1)
    health_seconds = []
    for _ in range(10):
        started = time.monotonic()
        assert requests.get(f"{url}/health", timeout=10).status_code == 200
        health_seconds.append(time.monotonic() - started)
        time.sleep(0.1)
    page = prose_page("en")
    direct = requests.post(f"{url}/ocr", files={"image": ("page.png", png_bytes(page.image))}, timeout=120)
    assert direct.status_code == 200 and character_error_rate(page.text, direct.json()["text"]) < 0.02
    assert max(health_seconds) < 1.0, health_seconds
    assert any(requests.get(f"{url}/jobs/{job['job_id']}", timeout=30).json()["status"] != "done" for job in jobs[-5:]), \
        "the jobs were over before /ocr and /health were tried"

    for ticket, job in zip(tickets, jobs):
        done = poll(url, job["job_id"])
        assert done["status"] == "done"
        text = requests.get(f"{url}{done['result_url']}", timeout=30).json()["text"]
        assert ticket in text and sum(other in text for other in tickets) == 1, (ticket, text)
    for watcher in watchers:
        watcher.join(30)
        assert not watcher.is_alive()


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLI), *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_the_command_line_reads_files_and_folders_into_one_output_each_and_resumes(server, tmp_path):
    scans = tmp_path / "scans" / "2026"
    scans.mkdir(parents=True)
    (tmp_path / "report.pdf").write_bytes(numbered_pdf(3))
    page = prose_page("en")
    (scans / "letter.png").write_bytes(png_bytes(page.image))
    (tmp_path / "scans" / "notes.txt").write_text("not a scan")  # not an image suffix: left alone
    done = run_cli("report.pdf", "scans", "--server", server["url"], "--format", "markdown", "--out", "out",
                   "--concurrency", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    report, letter = tmp_path / "out" / "report.md", tmp_path / "out" / "scans" / "2026" / "letter.md"
    assert page_numbers_in(report.read_text()) == [1, 2, 3]
    assert letter.read_text().startswith("# Reading Printed Pages")  # markdown
    assert character_error_rate(page.text, letter.read_text()) < 0.05
    assert len(done.stdout.strip().splitlines()) == 3  # not a terminal: one line per file and a total
    assert "report.pdf: 3 page(s) -> out/report.md" in done.stdout

    (tmp_path / "broken.png").write_bytes(b"\x89PNG but not really")
    again = run_cli("report.pdf", "scans", "broken.png", "--server", server["url"], "--format", "markdown",
                    "--out", "out", cwd=tmp_path)
    assert again.returncode == 1
    assert "report.pdf: skipped" in again.stdout and "letter.png: skipped" in again.stdout
    assert "broken.png: FAILED: 400 Invalid image" in again.stdout
    assert not (tmp_path / "out" / "broken.md").exists()

    json_run = run_cli("report.pdf", "--server", server["url"], "--format", "json", "--pages", "2-3",
                       "--out", "out", "--overwrite", cwd=tmp_path)
    assert json_run.returncode == 0, json_run.stdout + json_run.stderr
    body = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [page["page"] for page in body["pages"]] == [2, 3] and body["engine"] == "embedded"


def test_the_command_line_shows_progress_bars_in_a_terminal(server, tmp_path):
    (tmp_path / "report.pdf").write_bytes(numbered_pdf(4))
    pid, terminal = pty.fork()
    if pid == 0:  # the child: the CLI, its output a pseudo-terminal of 120 columns
        fcntl.ioctl(1, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        os.chdir(tmp_path)
        os.execv(str(CLI), [str(CLI), "report.pdf", "--server", server["url"]])
    output = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            chunk = os.read(terminal, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    _, status = os.waitpid(pid, 0)
    text = output.decode("utf-8", "replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "4/4" in text and "page" in text and "\r" in text  # a bar redrawn in place, pages counted
    assert "report.pdf: 4 page(s) -> report.txt" in text
    assert page_numbers_in((tmp_path / "report.txt").read_text()) == [1, 2, 3, 4]


def test_an_interrupted_command_line_follows_its_job_again_instead_of_submitting_twice(server, tmp_path):
    (tmp_path / "report.pdf").write_bytes(numbered_pdf(6))
    process = subprocess.Popen([str(CLI), "report.pdf", "--server", server["url"]], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    state = tmp_path / "report.txt.job.json"
    deadline = time.monotonic() + 60
    while not state.exists():
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)  # the laptop closes
    process.communicate(timeout=30)
    job_id = json.loads(state.read_text())["job_id"]
    resumed = run_cli("report.pdf", "--server", server["url"], cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert page_numbers_in((tmp_path / "report.txt").read_text()) == [1, 2, 3, 4, 5, 6]
    assert not state.exists()
    listed = requests.get(f"{server['url']}/jobs?limit=100", timeout=30).json()["jobs"]
    assert sum(job["page_count"] == 6 for job in listed) == 1 and any(job["job_id"] == job_id for job in listed)


def test_a_late_event_client_first_gets_what_already_happened(server):
    url = server["url"]
    job = submit(url, numbered_pdf(3))
    poll(url, job["job_id"])
    arrivals: list = []
    watch_events(url, job["job_id"], arrivals)
    assert [event for _, event, _ in arrivals] == ["page"] * 3 + ["done"]
