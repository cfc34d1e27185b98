"""deploy/nginx.conf in front of real gunicorn instances: the guide's client through it, two instances sharing results
and one job queue on Redis, read by a `deepseek-ocr-api worker`."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from tests.pages import png_bytes, receipt_page
from tests.servers import (
    REDIS_SERVER,
    ROOT,
    free_port,
    guide_example,
    run_python,
    start_gunicorn,
    start_redis,
    start_worker,
    wait_until_up,
)
from tests.test_jobs_server import numbered_pdf, page_numbers_in, submit, watch_events

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(NGINX is None, reason="Debian nginx is not installed (.ci/run installs it)"),
              pytest.mark.skipif(REDIS_SERVER is None, reason="Debian redis-server is not installed (.ci/run installs it)")]


def nginx_in_front(folder, upstream_ports: list[int]):
    """Run the shipped site config on a free port, its upstream pointed at `upstream_ports`; yields the URL."""
    site = (ROOT / "deploy" / "nginx.conf").read_text()
    port = free_port()
    servers = "".join(f"    server 127.0.0.1:{upstream};\n" for upstream in upstream_ports)
    site = site.replace("    server 127.0.0.1:8031;\n", servers).replace("listen 80;", f"listen 127.0.0.1:{port};")
    (folder / "site.conf").write_text(site)
    temp = {name: folder / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir()
    # As root (CI), nginx's workers would drop to `nobody`, which cannot enter pytest's private folders.
    user = "user root;" if os.geteuid() == 0 else ""
    (folder / "nginx.conf").write_text(f"""
{user}
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/error.log;
events {{}}
http {{
    access_log {folder}/access.log;
    client_body_temp_path {temp['body']};
    proxy_temp_path {temp['proxy']};
    fastcgi_temp_path {temp['fastcgi']};
    uwsgi_temp_path {temp['uwsgi']};
    scgi_temp_path {temp['scgi']};
    include {folder}/site.conf;
}}
""")
    process = subprocess.Popen([NGINX, "-c", str(folder / "nginx.conf"), "-p", str(folder)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    # Any answer will do (a 502 too): nginx is listening.
    wait_until_up(process, lambda: requests.get(f"{url}/health", timeout=2).status_code > 0, folder / "error.log", 20)
    try:
        yield url
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="module")
def two_instances(tmp_path_factory):
    """Two gunicorn instances with one shared results folder behind the shipped nginx config; their jobs go through
    Redis to a worker, as the README sets several instances up (each instance's embedded store is its own)."""
    shared = tmp_path_factory.mktemp("shared-results")
    home = tmp_path_factory.mktemp("home")  # where gunicorn 25 would put its control socket
    redis = start_redis(tmp_path_factory)
    queue = {"OCR_JOB_QUEUE": next(redis), "OCR_RESULTS_DIR": str(shared)}
    worker = start_worker(tmp_path_factory, "nginx-worker", **queue)
    first = start_gunicorn(tmp_path_factory, "first", HOME=str(home), **queue)
    second = start_gunicorn(tmp_path_factory, "second", HOME=str(home), **queue)
    instances = [next(first), next(second)]
    ports = [int(instance["url"].rsplit(":", 1)[1]) for instance in instances]
    front = nginx_in_front(tmp_path_factory.mktemp("nginx"), ports)
    yield {"url": next(front), "instances": instances, "results": shared, "home": home}
    for generator in (front, first, second):
        generator.close()
    worker["process"].terminate()
    worker["process"].wait(30)
    redis.close()


def test_guide_client_runs_unchanged_through_nginx(two_instances, tmp_path, document_png):
    result = run_python(guide_example("ocr_from_file.py", two_instances["url"]), tmp_path)
    assert result.returncode == 0, result.stderr
    assert "✓ OCR Success!" in result.stdout and "Optical character recognition turns pictures" in result.stdout


def test_every_result_downloads_through_nginx_whichever_instance_wrote_it(two_instances, tmp_path):
    image = png_bytes(receipt_page().image)
    bodies = [requests.post(f"{two_instances['url']}/ocr", files={"image": ("r.png", image, "image/png")},
                            timeout=120).json() for _ in range(4)]
    for body in bodies:
        download = requests.get(f"{two_instances['url']}/results/{body['output_file']}", timeout=10)
        assert download.status_code == 200 and download.text == body["text"]
    # Both instances answered, and each can serve the other's files.
    for instance in two_instances["instances"]:
        assert "POST /ocr 200" in Path(instance["log"].name).read_text(encoding="utf-8")
        for body in bodies:
            assert requests.get(f"{instance['url']}/results/{body['output_file']}", timeout=10).status_code == 200


def test_two_instances_on_one_machine_share_no_control_socket(two_instances):
    assert not (two_instances["home"] / ".gunicorn").exists()  # gunicorn's per-user control socket is off
    for instance in two_instances["instances"]:
        assert "control" not in Path(instance["log"].name).read_text(encoding="utf-8").lower()


def test_nginx_forwards_a_request_id_and_limits_the_body(two_instances):
    response = requests.get(f"{two_instances['url']}/health", timeout=10)
    assert len(response.headers["X-Request-ID"]) == 32  # nginx's $request_id, logged by the app
    too_big = requests.post(f"{two_instances['url']}/ocr", files={"image": ("big.png", b"\0" * (26 * 2**20))},
                            timeout=30)
    assert too_big.status_code == 413


def test_a_job_submitted_through_nginx_is_followed_through_either_instance(two_instances):
    url = two_instances["url"]
    job = submit(url, numbered_pdf(6))
    arrivals: list = []
    watch_events(url, job["job_id"], arrivals)  # through nginx: unbuffered, page by page
    assert [event for _, event, _ in arrivals] == ["page"] * 6 + ["done"]
    assert arrivals[-1][0] - arrivals[0][0] > 1, "nginx held the events back until the job ended"
    for instance in two_instances["instances"]:  # both instances know the job: it lives in Redis
        status = requests.get(f"{instance['url']}/jobs/{job['job_id']}", timeout=10).json()
        assert status["status"] == "done" and status["pages_done"] == 6
    result = requests.get(f"{url}{job['result_url']}", timeout=10).json()
    assert page_numbers_in(result["text"]) == [1, 2, 3, 4, 5, 6]
    assert requests.get(f"{url}/results/{result['output_file']}", timeout=10).text == result["text"]
