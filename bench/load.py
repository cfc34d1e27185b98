"""Load against a running server: N clients for T seconds mixing /ocr, /ocr-base64, /results and /health.

Prints throughput, latency percentiles per endpoint and status counts, then checks that every output_file a
response named exists (through /results) with exactly the text that response carried: nothing lost, nothing
overwritten. 503 answers are the server refusing work beyond OCR_QUEUE_DEPTH (with Retry-After), counted apart
from errors.

    make run &                                   # or any running server
    .venv/bin/python -m bench.load --clients 50 --seconds 60 [--url http://localhost:8031] [--key KEY]

Jobs mode: submit N jobs of a P-page PDF at once (POST /jobs), wait for all, and print pages/s from the first
submission to the last page read; every job's result must hold its pages, each once, in order. Run it against one
server (its embedded consumer), or a web instance in front of 1, 2, ... `deepseek-ocr-api worker`s (README, Jobs).

    .venv/bin/python -m bench.load --jobs 8 --job-pages 10 [--url ...] [--key KEY]
"""
from __future__ import annotations

import argparse
import base64
import collections
import io
import random
import re
import sys
import threading
import time

import requests

from tests.pages import pdf_bytes, prose_page, receipt_page, render_lines


def png(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://localhost:8031")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--key", default=None, help="API key, when the server has OCR_API_KEY")
    parser.add_argument("--jobs", type=int, default=0, help="jobs mode: submit this many jobs at once")
    parser.add_argument("--job-pages", type=int, default=10, help="jobs mode: pages of each job's PDF")
    args = parser.parse_args()
    if args.jobs:
        sys.exit(jobs_mode(args))

    headers = {"X-API-Key": args.key} if args.key else {}
    pages = [png(receipt_page(seed).image) for seed in range(3)] + [png(prose_page("en", repeat=1).image)]
    latencies: dict[str, list[float]] = collections.defaultdict(list)
    statuses: collections.Counter = collections.Counter()
    saved: list[tuple[str, str]] = []  # (output_file, text the response carried)
    lock = threading.Lock()
    deadline = time.monotonic() + args.seconds

    def client(number: int) -> None:
        session = requests.Session()
        session.headers.update(headers)
        chooser = random.Random(number)
        while time.monotonic() < deadline:
            kind = chooser.choices(["ocr", "ocr-base64", "results", "health"], weights=[4, 4, 1, 1])[0]
            page = chooser.choice(pages)
            started = time.monotonic()
            try:
                if kind == "ocr":
                    response = session.post(f"{args.url}/ocr", files={"image": ("page.png", page, "image/png")},
                                            timeout=600)
                elif kind == "ocr-base64":
                    response = session.post(f"{args.url}/ocr-base64", timeout=600,
                                            json={"image_base64": base64.b64encode(page).decode()})
                elif kind == "results":
                    with lock:
                        name = chooser.choice(saved)[0] if saved else "ocr_result_20260101_000000_0000000000000000.txt"
                    response = session.get(f"{args.url}/results/{name}", timeout=60)
                else:
                    response = session.get(f"{args.url}/health", timeout=60)
                status = response.status_code
            except requests.RequestException as exc:
                status, response = type(exc).__name__, None
            elapsed = time.monotonic() - started
            with lock:
                statuses[(kind, status)] += 1
                if status == 200:
                    latencies[kind].append(elapsed)
                    body = response.json() if kind.startswith("ocr") else {}
                    if body.get("output_file"):
                        saved.append((body["output_file"], body["text"]))
            if status == 503 and response is not None:
                time.sleep(min(float(response.headers.get("Retry-After", 1)), 5))

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(number,)) for number in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started

    print(f"{args.clients} clients for {args.seconds:.0f} s against {args.url} (wall {wall:.0f} s)")
    print(f"{'endpoint':<11} {'ok':>6} {'per s':>7} {'p50 s':>7} {'p95 s':>7} {'p99 s':>7} {'max s':>7}")
    for kind in ("ocr", "ocr-base64", "results", "health"):
        values = latencies[kind]
        print(f"{kind:<11} {len(values):>6} {len(values) / wall:>7.2f} {percentile(values, .5):>7.3f} "
              f"{percentile(values, .95):>7.3f} {percentile(values, .99):>7.3f} {max(values, default=float('nan')):>7.3f}")
    print("statuses:", ", ".join(f"{kind} {status}: {count}" for (kind, status), count in sorted(statuses.items(),
                                                                                              key=str)))
    errors = sum(count for (kind, status), count in statuses.items()
                 if status not in (200, 503) and not (kind == "results" and status == 404))
    print(f"errors (not 200, not a 503 refusal, not the 404 of the results probe before any file exists): {errors}")

    session = requests.Session()
    session.headers.update(headers)
    names = [name for name, _ in saved]
    mismatched = [name for name, text in saved
                  if (download := session.get(f"{args.url}/results/{name}", timeout=60)).status_code != 200
                  or download.text != text]
    print(f"result files: {len(saved)} named, {len(set(names))} distinct, {len(mismatched)} missing or different")
    sys.exit(1 if errors or mismatched or len(set(names)) != len(names) else 0)


def jobs_mode(args) -> int:
    """Submit the jobs, follow them to the end, check their pages; the exit status says whether all came back whole."""
    session = requests.Session()
    if args.key:
        session.headers["X-API-Key"] = args.key
    document = pdf_bytes([render_lines([f"Page {number} of the report", "Revenue grew in every quarter.",
                                        "Costs fell in the second half of the year."], size=30, width=1100)
                          for number in range(1, args.job_pages + 1)])
    started = time.monotonic()
    jobs = []
    for _ in range(args.jobs):
        response = session.post(f"{args.url}/jobs", files={"image": ("report.pdf", document)}, timeout=120)
        response.raise_for_status()
        jobs.append(response.json())
    submitted = time.monotonic()
    finished: dict[str, float] = {}
    while len(finished) < len(jobs):
        for job in jobs:
            if job["job_id"] not in finished:
                status = session.get(f"{args.url}{job['status_url']}", timeout=60).json()["status"]
                if status in ("done", "failed", "cancelled"):
                    finished[job["job_id"]] = time.monotonic()
        time.sleep(0.2)
    wall = max(finished.values()) - started
    whole = 0
    for job in jobs:
        result = session.get(f"{args.url}{job['result_url']}", timeout=60)
        numbers = [int(n) for n in re.findall(r"^Page\s*(\d+)", result.json().get("text", ""), re.M)] \
            if result.status_code == 200 else []
        whole += numbers == list(range(1, args.job_pages + 1))
    pages = args.jobs * args.job_pages
    latencies = [finished[job["job_id"]] - started for job in jobs]
    print(f"{args.jobs} jobs of {args.job_pages} pages against {args.url}: submitted in {submitted - started:.1f} s, "
          f"all read in {wall:.1f} s")
    print(f"pages/s {pages / wall:.2f}   s/page {wall / pages:.2f}   first job done {min(latencies):.1f} s, "
          f"last {max(latencies):.1f} s")
    print(f"jobs whose result holds every page once, in order: {whole} of {args.jobs}")
    return 0 if whole == args.jobs else 1


if __name__ == "__main__":
    main()
