"""Jobs on Redis + RQ with real processes: two `deepseek-ocr-api worker`s share one queue behind a web instance
without a model (OCR_ENGINE=none), and one of them is killed with SIGKILL in the middle of a job."""
from __future__ import annotations

import signal
import time

import pytest
import requests
from redis import Redis
from rq import Worker
from rq.job import Job as RqJob

from tests.pages import character_error_rate, png_bytes, prose_page
from tests.servers import REDIS_SERVER, start_gunicorn, start_redis, start_worker
from tests.test_jobs_server import numbered_pdf, page_numbers_in, poll, submit

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(REDIS_SERVER is None, reason="Debian redis-server is not installed (.ci/run installs it)")]

# A page may take 20 s here, so a killed worker's page is requeued 30 s after it began, by a worker that looks for
# abandoned pages every 5 s. The web instance enqueues, so it is the one that sets the page timeout.
QUEUE_SETTINGS = {"OCR_JOB_PAGE_TIMEOUT": "20", "OCR_WORKER_MAINTENANCE_SECONDS": "5"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    redis = start_redis(tmp_path_factory)
    queue = next(redis)
    results = tmp_path_factory.mktemp("shared-results")
    settings = {"OCR_JOB_QUEUE": queue, "OCR_RESULTS_DIR": str(results), **QUEUE_SETTINGS}
    workers = [start_worker(tmp_path_factory, f"worker-{index}", **settings) for index in (1, 2)]
    web = start_gunicorn(tmp_path_factory, "web-without-model", memory_cap_mb=2048, OCR_ENGINE="none", **settings)
    try:
        yield {"url": next(web)["url"], "workers": workers, "queue": queue}
    finally:
        web.close()
        for worker in workers:
            worker["process"].terminate()
            worker["process"].wait(30)
        redis.close()


def busy_with(queue: str, worker: dict) -> str | None:
    """The id of the RQ job (a run of pages) the worker is reading, or None."""
    for found in Worker.all(connection=Redis.from_url(queue)):
        if found.pid == worker["process"].pid and found.get_state() == "busy":
            return found.get_current_job_id()
    return None


def pages_read_by(worker: dict) -> int:
    return worker["log"].read_text().count("Job OK")


def test_a_web_instance_without_a_model_answers_ocr_through_the_workers(cluster):
    url = cluster["url"]
    health = requests.get(f"{url}/health", timeout=10).json()
    assert health["engine"] == "none"
    page = prose_page("en")
    answer = requests.post(f"{url}/ocr", files={"image": ("page.png", png_bytes(page.image))}, timeout=120)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["engine"] == "embedded"  # the worker that read it, not the web instance
    assert character_error_rate(page.text, body["text"]) < 0.02
    assert requests.get(f"{url}/results/{body['output_file']}", timeout=10).text == body["text"]
    refused = requests.post(f"{url}/ocr", files={"image": ("page.png", b"no image")}, timeout=60)
    assert refused.status_code == 400
    described = requests.post(f"{url}/ocr", files={"image": ("page.png", png_bytes(page.image))},
                              data={"task": "describe"}, timeout=120)
    assert described.status_code == 400 and "cannot honour" in described.json()["detail"]["message"]
    chat = requests.post(f"{url}/v1/chat/completions", json={"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}]}, timeout=30)
    assert chat.status_code == 503 and "OCR_ENGINE=none" in chat.json()["error"]["message"]


def test_two_workers_share_a_job_and_one_killed_mid_run_loses_nothing(cluster):
    url = cluster["url"]
    before = [pages_read_by(worker) for worker in cluster["workers"]]
    job = submit(url, numbered_pdf(20))
    deadline = time.monotonic() + 120
    while requests.get(f"{url}/jobs/{job['job_id']}", timeout=30).json()["pages_done"] < 4:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    victim = cluster["workers"][0]
    while True:  # in the middle of a run with pages it has not kept yet, not between two runs
        page_job = busy_with(cluster["queue"], victim)
        kept = [page["page"] for page in requests.get(f"{url}/jobs/{job['job_id']}", timeout=30).json()["pages"]]
        run = RqJob.fetch(page_job, connection=Redis.from_url(cluster["queue"])).args[1] if page_job else []
        if set(run) - set(kept):
            break
        assert time.monotonic() < deadline
        time.sleep(0.01)
    victim["process"].send_signal(signal.SIGKILL)  # in the middle of a page: no goodbye to Redis
    victim["process"].wait(10)
    killed_at = time.monotonic()
    done = poll(url, job["job_id"], seconds=150)
    assert done["status"] == "done", done
    assert time.monotonic() - killed_at < 60, "the killed worker's run was not requeued within a minute"
    result = requests.get(f"{url}{done['result_url']}", timeout=30).json()
    assert page_numbers_in(result["text"]) == list(range(1, 21))  # every page once, in order
    assert [page["page"] for page in result["pages"]] == list(range(1, 21))
    survivor = cluster["workers"][1]
    # Both read runs of this job: the victim was killed in one, the survivor finished runs of it.
    assert page_job.startswith(job["job_id"]) and pages_read_by(survivor) > before[1]
    assert page_job in survivor["log"].read_text()  # the run the victim was reading, finished by the survivor
