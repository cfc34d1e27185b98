"""`deepseek-ocr`: read files and folders through a deepseek-ocr-api server as jobs, with a progress bar per file and
overall, one output file per input. Only the HTTP API is used, so it runs on any machine that reaches the server.

    deepseek-ocr report.pdf scans/ --server http://host:8031 --format markdown --out out/ --pages 1-20
"""
from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import requests
from tqdm import tqdm

INPUT_SUFFIXES = {".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".gif"}
OUTPUT_SUFFIXES = {"text": ".txt", "markdown": ".md", "json": ".json"}
BUSY_RETRIES = 30  # a full server (503 with Retry-After) is asked again this many times
STREAM_RETRIES = 20  # a dropped event stream is reopened this many times, where it left off
STATE_SUFFIX = ".job.json"  # beside an output being made: the job it waits for, so a rerun follows the same job


class JobFailed(Exception):
    """A file could not be read; the message says why, as the server said it."""


@dataclass
class Work:
    source: Path
    output: Path


def inputs(paths: list[str], out: str | None, output_format: str) -> Iterator[Work]:
    """Each file named, and every readable file under each folder named; with its output path."""
    suffix = OUTPUT_SUFFIXES[output_format]
    for name in paths:
        path = Path(name)
        if path.is_dir():
            for source in sorted(path.rglob("*")):
                if source.is_file() and source.suffix.lower() in INPUT_SUFFIXES:
                    relative = source.relative_to(path)
                    target = Path(out) / path.name / relative if out else source
                    yield Work(source, target.with_suffix(suffix))
        elif path.is_file():
            yield Work(path, (Path(out) / path.name if out else path).with_suffix(suffix))
        else:
            raise SystemExit(f"deepseek-ocr: {name}: no such file or folder")


class Client:
    """The server's job endpoints, with the key on every request."""

    def __init__(self, server: str, api_key: str | None, timeout: float):
        self.server = server.rstrip("/")
        self.session = requests.Session()
        if api_key:
            self.session.headers["Authorization"] = f"Bearer {api_key}"
        self.timeout = timeout

    def url(self, path: str) -> str:
        return self.server + path

    @staticmethod
    def problem(response: requests.Response) -> str:
        try:
            detail = response.json()["detail"]
            return f"{response.status_code} {detail['error']}: {detail['message']}"
        except (ValueError, KeyError, TypeError):
            return f"{response.status_code} {response.reason}"

    def submit(self, source: Path, fields: dict[str, str]) -> dict:
        for _ in range(BUSY_RETRIES):
            with source.open("rb") as handle:
                response = self.session.post(self.url("/jobs"), files={"image": (source.name, handle)}, data=fields,
                                             timeout=self.timeout)
            if response.status_code == 503 and "Retry-After" in response.headers:
                time.sleep(min(60, int(response.headers["Retry-After"])))
                continue
            if response.status_code != 202:
                raise JobFailed(self.problem(response))
            return response.json()
        raise JobFailed("the server stayed busy (503)")

    def status(self, job_id: str) -> dict | None:
        response = self.session.get(self.url(f"/jobs/{job_id}"), timeout=self.timeout)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise JobFailed(self.problem(response))
        return response.json()

    def events(self, job: dict) -> Iterator[tuple[str, dict]]:
        """(event, data) from the job's event stream, reopened where it left off when the connection drops."""
        last_id, attempts = None, 0
        while True:
            headers = {"Accept": "text/event-stream", **({"Last-Event-ID": last_id} if last_id else {})}
            try:
                with self.session.get(self.url(job["events_url"]), headers=headers, stream=True,
                                      timeout=(self.timeout, 120)) as response:
                    if response.status_code != 200:
                        raise JobFailed(self.problem(response))
                    event, data, event_id = "message", [], None
                    for line in response.iter_lines(decode_unicode=True):
                        if line == "":
                            if data:
                                if event_id:
                                    last_id = event_id
                                yield event, json.loads("\n".join(data))
                                if event in ("done", "failed", "cancelled"):
                                    return
                            event, data, event_id = "message", [], None
                        elif line.startswith("event:"):
                            event = line[6:].strip()
                        elif line.startswith("data:"):
                            data.append(line[5:].lstrip())
                        elif line.startswith("id:"):
                            event_id = line[3:].strip()
                        attempts = 0
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError):
                pass
            attempts += 1
            if attempts > STREAM_RETRIES:
                raise JobFailed("lost the connection to the server's event stream")
            time.sleep(min(30, 2 ** attempts))

    def result(self, job: dict) -> dict:
        response = self.session.get(self.url(job["result_url"]), timeout=self.timeout)
        if response.status_code != 200:
            raise JobFailed(self.problem(response))
        return response.json()


class Progress:
    """Bars on a terminal (one per file being read, one overall); one line per file otherwise."""

    def __init__(self, files: int, slots: int, on_terminal: bool):
        self.on_terminal = on_terminal
        self.lock = threading.Lock()
        # The terminal's width, or 80 columns where it reports none (tqdm would draw bars of no width).
        self.width = shutil.get_terminal_size().columns
        self.overall = tqdm(total=0, desc=f"{files} file(s)", unit="page", position=0, disable=not on_terminal,
                            ncols=self.width)
        self.free = queue.SimpleQueue()
        for slot in range(1, slots + 1):
            self.free.put(slot)

    def file_bar(self, name: str, pages: int):
        with self.lock:
            self.overall.total += pages
            self.overall.refresh()
        position = self.free.get()
        bar = tqdm(total=pages, desc=name[-40:], unit="page", position=position, leave=False,
                   disable=not self.on_terminal, ncols=self.width)
        bar.slot = position
        return bar

    def page(self, bar) -> None:
        bar.update(1)
        with self.lock:
            self.overall.update(1)

    def finish(self, bar, line: str) -> None:
        bar.close()
        self.free.put(bar.slot)
        self.say(line)

    def say(self, line: str) -> None:
        with self.lock:
            if self.on_terminal:
                self.overall.write(line)
            else:
                print(line, flush=True)

    def close(self) -> None:
        self.overall.close()


def read_file(client: Client, work: Work, fields: dict[str, str], output_format: str, progress: Progress) -> bool:
    """Submit (or, after an interrupted run, follow again) one file's job and write its output; False if it failed."""
    started = time.monotonic()
    state = work.output.with_name(work.output.name + STATE_SUFFIX)
    bar = None
    try:
        job = None
        if state.exists():  # an earlier run submitted it: follow that job, if the server still has it
            saved = json.loads(state.read_text())
            if saved.get("server") == client.server:
                job = client.status(saved["job_id"])
        if job is None:
            job = client.submit(work.source, fields)
            work.output.parent.mkdir(parents=True, exist_ok=True)
            state.write_text(json.dumps({"server": client.server, "job_id": job["job_id"]}))
            job = client.status(job["job_id"]) or job
        bar = progress.file_bar(str(work.source), job.get("pages_total", 0))
        ended = None
        for event, data in client.events(job):
            if event == "page":
                progress.page(bar)
            elif event in ("done", "failed", "cancelled"):
                ended = (event, data)
        event, data = ended
        if event == "failed":
            raise JobFailed(f"{data['error']['status']} {data['error']['detail']['error']}: "
                            f"{data['error']['detail']['message']}")
        if event == "cancelled":
            raise JobFailed("the job was cancelled on the server")
        result = client.result(job)
        body = (json.dumps(result, ensure_ascii=False, indent=2) if output_format == "json" else result["text"])
        temporary = work.output.with_name(work.output.name + ".partial")
        temporary.write_text(body + ("" if body.endswith("\n") else "\n"), encoding="utf-8")
        os.replace(temporary, work.output)
        state.unlink(missing_ok=True)
        line = (f"{work.source}: {result['pages_read']} page(s) -> {work.output} "
                f"({time.monotonic() - started:.1f} s)")
        ok = True
    except (JobFailed, requests.RequestException, OSError) as problem:
        line, ok = f"{work.source}: FAILED: {problem}", False
    if bar is None:
        progress.say(line)
    else:
        progress.finish(bar, line)
    return ok


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="deepseek-ocr", description="Read images, PDFs and TIFFs through a deepseek-ocr-api server, as jobs.")
    parser.add_argument("paths", nargs="+", help="files, and folders to read recursively")
    parser.add_argument("--server", default=os.environ.get("DEEPSEEK_OCR_SERVER", "http://localhost:8031"),
                        help="the server (default: $DEEPSEEK_OCR_SERVER or http://localhost:8031)")
    parser.add_argument("--api-key", default=os.environ.get("DEEPSEEK_OCR_API_KEY"),
                        help="the server's API key (default: $DEEPSEEK_OCR_API_KEY)")
    parser.add_argument("--format", choices=list(OUTPUT_SUFFIXES), default="text",
                        help="text (.txt), markdown (.md) or json (.json: the whole result, with boxes)")
    parser.add_argument("--out", help="folder for the outputs (default: beside each input)")
    parser.add_argument("--pages", help="pages of each PDF or TIFF, e.g. 1-20 or 1-3,7 (default: all)")
    parser.add_argument("--mode", help="resolution mode (see the server's GET /)")
    parser.add_argument("--concurrency", type=int, default=2, help="files read at once (default: 2)")
    parser.add_argument("--overwrite", action="store_true", help="read files whose output exists too")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each HTTP answer")
    args = parser.parse_args(argv)
    if args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = list(inputs(args.paths, args.out, args.format))
    todo = [item for item in work if args.overwrite or not item.output.exists()]
    client = Client(args.server, args.api_key, args.timeout)
    fields = {"output_format": args.format, **({"pages": args.pages} if args.pages else {}),
              **({"mode": args.mode} if args.mode else {})}
    progress = Progress(len(todo), min(args.concurrency, max(1, len(todo))), sys.stderr.isatty())
    for item in work:
        if item not in todo:
            progress.say(f"{item.source}: skipped, {item.output} exists (--overwrite reads it again)")
    pool = ThreadPoolExecutor(max_workers=args.concurrency)
    try:
        outcomes = list(pool.map(lambda item: read_file(client, item, fields, args.format, progress), todo))
    except KeyboardInterrupt:
        progress.close()
        print("deepseek-ocr: interrupted; the server goes on reading, and running the same command again follows "
              "the same jobs", file=sys.stderr, flush=True)
        os._exit(130)  # at once: the threads waiting on event streams would hold a normal exit
    pool.shutdown()
    progress.close()
    failed = outcomes.count(False)
    if work and (failed or len(todo) > 1):
        progress.say(f"{len(todo) - failed} of {len(todo)} file(s) read, {failed} failed, "
                     f"{len(work) - len(todo)} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
