"""GET /metrics: Prometheus metrics in the text format."""
from __future__ import annotations

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from deepseek_ocr_api.docs import documented
from deepseek_ocr_api.errors import ResultNotFound
from deepseek_ocr_api.metrics import current_metrics

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
@documented("metrics", "监控指标", ok="Prometheus text format", errors={404: "Metrics are off (OCR_METRICS=false)"},
            response={"text/plain": {"schema": {"type": "string"}}})
def prometheus_metrics():
    """Prometheus metrics: requests, pages, tokens, queue, jobs, engine, GPU memory and result files.

    Open without a key when the server has none; with OCR_API_KEY set it needs one unless OCR_METRICS_PUBLIC=true
    (it shows the GPU figures /health keeps from callers without a key).
    """
    metrics = current_metrics()
    if metrics is None:
        raise ResultNotFound("Metrics are off on this server (OCR_METRICS=false)", ["Set OCR_METRICS=true"])
    return Response(generate_latest(metrics.registry), mimetype=CONTENT_TYPE_LATEST.split(";")[0],
                    headers={"Cache-Control": "no-store"})
