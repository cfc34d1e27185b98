"""Real servers and clients for the tests and benches: gunicorn as `make run` starts it, capped in memory; the
guide's example scripts pointed at it."""
from __future__ import annotations

import os
import resource
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
GUIDE_URL = "http://localhost:8031"


def guide_example(name: str, base_url: str) -> str:
    """An example from the guide, pointed at the test server instead of localhost:8031."""
    return (EXAMPLES / name).read_text(encoding="utf-8").replace(GUIDE_URL, base_url)


def run_python(source: str, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    script = cwd / "example.py"
    script.write_text(source, encoding="utf-8")
    return subprocess.run([sys.executable, str(script), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def address_space_cap(megabytes: int):
    """For Popen's preexec_fn: cap the child's address space, so a regression fails a test instead of the machine."""
    def cap():
        limit = megabytes * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return cap


def worker_pid(master: int) -> int:
    """The pid of gunicorn's one worker process."""
    with open(f"/proc/{master}/task/{master}/children") as handle:
        children = handle.read().split()
    assert len(children) == 1, children
    return int(children[0])


def memory_mb(pid: int, field: str = "VmHWM") -> float:
    """A process's peak (VmHWM) or current (VmRSS) resident memory in MB."""
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} for {pid}")


def wait_until_up(process: subprocess.Popen, is_up: Callable[[], bool], log: Path, seconds: float,
                  interval: float = 0.1) -> None:
    """Poll `is_up` (failing to connect counts as not yet) until it holds; the test fails, with the process's log,
    if the process exits or `seconds` pass first."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if is_up():
                return
        except (OSError, ValueError):  # refused, reset, timed out; a half-written answer
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"{Path(process.args[0]).name} did not start:\n{log.read_text()}")
        time.sleep(interval)


def start_gunicorn(tmp_path_factory, name: str, memory_cap_mb: int | None = None, **environment):
    """A real gunicorn serving the app as `make run` starts it, with `OCR_*` settings; yields once the model is loaded.
    `memory_cap_mb` caps the address space of gunicorn and its worker."""
    port = free_port()
    results = tmp_path_factory.mktemp(f"{name}-results")
    env = {**os.environ, "OCR_HOST": "127.0.0.1", "OCR_PORT": str(port), "OCR_RESULTS_DIR": str(results),
           "PYTHONWARNINGS": "ignore", **environment}
    log = open(tmp_path_factory.mktemp(f"{name}-log") / "gunicorn.log", "w+")
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                               preexec_fn=address_space_cap(memory_cap_mb) if memory_cap_mb else None)
    base_url = f"http://127.0.0.1:{port}"
    wait_until_up(process, lambda: requests.get(f"{base_url}/health", timeout=2).json()["model_loaded"],
                  Path(log.name), 90, interval=0.3)
    try:
        yield {"url": base_url, "results": results, "process": process, "log": log}
    finally:
        process.terminate()
        process.wait(30)
        log.close()


REDIS_SERVER = shutil.which("redis-server") or ("/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None)


def start_redis(tmp_path_factory):
    """A private Redis (Debian's redis-server) on a free loopback port, in memory only; yields its URL."""
    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    with open(folder / "redis.log", "w") as log:
        process = subprocess.Popen([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                    "--appendonly", "no", "--dir", str(folder), "--maxmemory", "512mb"],
                                   stdout=log, stderr=subprocess.STDOUT, preexec_fn=address_space_cap(2048))
    url = f"redis://127.0.0.1:{port}/0"

    def answers_ping() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")

    wait_until_up(process, answers_ping, folder / "redis.log", 20)
    try:
        yield url
    finally:
        process.terminate()
        process.wait(10)


def start_worker(tmp_path_factory, name: str, memory_cap_mb: int = 4096, **environment) -> dict:
    """`deepseek-ocr-api worker` as a user starts it (OCR_JOB_QUEUE and the rest in `environment`), capped in memory;
    returned once it listens on the queue. The caller stops it."""
    log_path = tmp_path_factory.mktemp(f"{name}-log") / "worker.log"
    env = {**os.environ, "PYTHONWARNINGS": "ignore", **environment}
    with open(log_path, "w") as log:
        process = subprocess.Popen([str(Path(sys.executable).with_name("deepseek-ocr-api")), "worker"], cwd=ROOT,
                                   env=env, stdout=log, stderr=subprocess.STDOUT,
                                   preexec_fn=address_space_cap(memory_cap_mb))
    wait_until_up(process, lambda: "Listening on" in log_path.read_text(), log_path, 90, interval=0.2)
    return {"process": process, "log": log_path}
