"""Replay the attack corpus (tests/attacks.py) against a running server; then hold slow clients open and time
/health beside them.

For each input it prints the status, the time and the worker's peak resident memory (VmHWM, read from /proc, so
run it on the server's machine). It ends with one summary line: inputs tried, 5xx answers (and failed connections), worker deaths (the worker's pid changed), and the highest
peak RSS of any worker the run saw.

    make run &                                   # or any running server
    .venv/bin/python -m bench.attack [--url http://127.0.0.1:8031] [--key KEY] [--slow 40,20]
"""
from __future__ import annotations

import argparse
import sys
import time

import psutil
import requests

from tests.attacks import CORPUS, SlowClients


def worker_pid(port: int) -> int | None:
    """The gunicorn worker serving `port`: of the processes listening on it, the one whose parent listens too."""
    listening = {c.pid for c in psutil.net_connections("tcp") if c.laddr.port == port and c.status == psutil.CONN_LISTEN}
    for pid in listening:
        try:
            if psutil.Process(pid).ppid() in listening:
                return pid
        except psutil.NoSuchProcess:
            continue
    return min(listening) if listening else None


def peak_mb(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/status") as handle:
            return next(int(line.split()[1]) / 1024 for line in handle if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return None


def slowest_health(url: str, headers_slow: int, body_slow: int, seconds: float) -> float:
    """The slowest /health answer while the slow clients trickle (inf if one failed)."""
    slowest = 0.0
    with SlowClients(url, headers_slow, body_slow):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                requests.get(url + "/health", timeout=10)
                slowest = max(slowest, time.monotonic() - started)
            except requests.RequestException:
                slowest = float("inf")
            time.sleep(0.2)
    return slowest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8031")
    parser.add_argument("--key", help="API key, if the server needs one")
    parser.add_argument("--slow", default="40,20", help="slow-header,slow-body connections (0,0: skip)")
    parser.add_argument("--slow-seconds", type=float, default=10)
    args = parser.parse_args()
    url = args.url.rstrip("/")
    headers = {"X-API-Key": args.key} if args.key else {}
    port = int(url.rsplit(":", 1)[1])
    worker = worker_pid(port)
    print(f"{'input':36} {'status':>6} {'seconds':>8} {'peak RSS MB':>12}")
    server_errors = deaths = 0
    highest = peak_mb(worker) or 0.0  # across every worker the run saw, replacements included
    for attack in CORPUS:
        started = time.monotonic()
        try:
            status = str(attack.send(url, headers).status_code)
        except requests.RequestException as exc:
            status = type(exc).__name__
        elapsed = time.monotonic() - started
        now = worker_pid(port)
        if now != worker:
            deaths += 1
            worker = now
        server_errors += status.startswith("5") or not status.isdigit()
        peak = peak_mb(worker)
        highest = max(highest, peak or 0.0)
        print(f"{attack.name:36} {status:>6} {elapsed:8.2f} {peak if peak is None else round(peak):>12}")
    headers_slow, body_slow = (int(n) for n in args.slow.split(","))
    slowest = None
    if headers_slow or body_slow:
        slowest = slowest_health(url, headers_slow, body_slow, args.slow_seconds)
        print(f"/health beside {headers_slow} slow-header and {body_slow} slow-body clients: slowest {slowest:.3f} s")
    highest = max(highest, peak_mb(worker_pid(port)) or 0.0)
    print(f"SUMMARY inputs={len(CORPUS)} 5xx={server_errors} worker_deaths={deaths} peak_rss_mb={round(highest)}"
          + (f" slowest_health_s={slowest:.3f}" if slowest is not None else ""))
    return 1 if server_errors or deaths else 0


if __name__ == "__main__":
    sys.exit(main())
