"""Prometheus metrics (GET /metrics, prometheus_client's text format): requests, pages, tokens, the queue, jobs, the
engine, the GPU and the result files. Counters and histograms move as things happen; the rest is read at scrape
time by a collector, so a scrape always shows the present."""
from __future__ import annotations

import os
import time
from collections.abc import Iterator

from flask import Flask, current_app, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from deepseek_ocr_api.jobs.model import CANCELLED, DONE, FAILED, QUEUED, RUNNING
from deepseek_ocr_api.results import RESULT_NAME

# Seconds: a small image on the CPU engine is 0.1 s, a dense page on DeepSeek in gundam mode on a CPU minutes.
PAGE_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900)
REQUEST_BUCKETS = (0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)
ENGINE_STATES = ("loading", "ready", "failed")


class Metrics:
    """The app's registry (its own, so that several apps in one process never clash) and the metrics that count."""

    def __init__(self):
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("ocr_http_requests", "HTTP requests answered, by route, method and status",
                                ["route", "method", "status"], registry=self.registry)
        self.request_seconds = Histogram("ocr_http_request_duration_seconds", "Time to answer a request, by route",
                                         ["route"], buckets=REQUEST_BUCKETS, registry=self.registry)
        self.pages = Counter("ocr_pages", "Pages read, by engine and outcome (complete, max_new_tokens, "
                             "repetition, error)", ["engine", "outcome"], registry=self.registry)
        self.page_seconds = Histogram("ocr_page_seconds", "Time the engine took to read one page",
                                      ["engine", "mode"], buckets=PAGE_BUCKETS, registry=self.registry)
        self.tokens = Counter("ocr_generated_tokens", "Tokens generated (engines that count tokens)", ["engine"],
                              registry=self.registry)

    def page_read(self, engine: str, mode: str, outcome: str, seconds: float, generated: int | None) -> None:
        self.pages.labels(engine, outcome).inc()
        if outcome != "error":
            self.page_seconds.labels(engine, mode).observe(seconds)
        if generated:
            self.tokens.labels(engine).inc(generated)

    def request_answered(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.request_seconds.labels(route).observe(seconds)


class StateCollector(Collector):
    """What is true now: the queue, requests in flight, jobs by state, the engine, GPU memory, result files."""

    def __init__(self, app: Flask):
        self.app = app

    def describe(self) -> list:
        """Nothing up front: the registry would otherwise collect while the app is still being built."""
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        runtime, jobs = self.app.extensions["ocr"], self.app.extensions["jobs"]
        described = runtime.describe()
        in_flight = described["documents_in_flight"]
        yield GaugeMetricFamily("ocr_requests_in_flight", "OCR requests being read or waiting",
                                value=len(in_flight))
        yield GaugeMetricFamily("ocr_queue_depth", "OCR requests waiting for the engine (one is read at a time)",
                                value=max(0, len(in_flight) - 1))
        yield GaugeMetricFamily("ocr_queue_capacity", "Requests that may wait (OCR_QUEUE_DEPTH)",
                                value=runtime.queue_depth)
        by_state = jobs.store.counts()
        family = GaugeMetricFamily("ocr_jobs", "Jobs kept, by state", labels=["state"])
        for state in (QUEUED, RUNNING, DONE, FAILED, CANCELLED):
            family.add_metric([state], by_state.get(state, 0))
        yield family
        state = GaugeMetricFamily("ocr_engine_state", "1 for the engine's state: loading, ready or failed",
                                  labels=["engine", "model", "state"])
        for name in ENGINE_STATES:
            state.add_metric([runtime.engine_name, described["model"], name], 1 if runtime.state == name else 0)
        yield state
        if runtime.load_seconds is not None:
            yield GaugeMetricFamily("ocr_engine_load_seconds", "Seconds the engine took to load",
                                    value=runtime.load_seconds)
        gpu = runtime.engine.gpu_memory_bytes()
        for name, value in gpu.items():
            yield GaugeMetricFamily(f"ocr_gpu_memory_{name}_bytes", f"GPU memory {name}, as /health shows it",
                                    value=value)
        files, size = result_files(self.app.extensions["results"].folder)
        yield GaugeMetricFamily("ocr_result_files", "Result files on disk", value=files)
        yield GaugeMetricFamily("ocr_result_files_bytes", "Bytes of the result files on disk", value=size)


def result_files(folder) -> tuple[int, int]:
    files = size = 0
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if RESULT_NAME.match(entry.name) and entry.is_file(follow_symlinks=False):
                    files += 1
                    size += entry.stat(follow_symlinks=False).st_size
    except OSError:  # no results folder (yet), or not a folder: nothing on disk to count
        pass
    return files, size


def init_metrics(app: Flask, settings) -> None:
    """The app's metrics in `app.extensions["metrics"]` when OCR_METRICS is on; the runtime reports its pages there."""
    if not settings.metrics:
        return
    metrics = app.extensions["metrics"] = Metrics()
    metrics.registry.register(StateCollector(app))
    app.extensions["ocr"].page_listeners.append(metrics.page_read)

    @app.after_request
    def count_request(response):
        if "started" in g:  # set by access.py's first hook; a request refused before it is not ours to count
            route = request.url_rule.rule if request.url_rule is not None else "unmatched"
            metrics.request_answered(route, request.method, response.status_code, time.monotonic() - g.started)
        return response


def current_metrics() -> Metrics | None:
    return current_app.extensions.get("metrics")
