"""GET /health: is the engine loaded, and how much memory is in use."""
from __future__ import annotations

from flask import Blueprint, g, jsonify

from deepseek_ocr_api.docs import documented
from deepseek_ocr_api.engines.base import GPU_MEMORY_FIELDS
from deepseek_ocr_api.jobs import current_jobs
from deepseek_ocr_api.runtime import FAILED, READY, current_runtime
from deepseek_ocr_api.schemas import HealthOut

bp = Blueprint("health", __name__)

STATUS = {READY: "healthy", FAILED: "unhealthy"}


@bp.get("/health")
@documented("health", "健康检查与内存统计", ok="The engine is loaded (status healthy) or still loading (status loading)",
            response=HealthOut, errors={503: ("The engine failed to load; engine_error says why", HealthOut)},
            open=True)
def health_check():
    """Health check: engine load state, device and GPU memory statistics.

    Open without an API key, for load balancers; the GPU figures are shown only to callers with a key.
    """
    runtime = current_runtime()
    body = {
        "status": STATUS.get(runtime.state, "loading"),
        **runtime.health(),
        **runtime.describe(),
        **(runtime.gpu_memory() if g.get("authorised", True) else dict.fromkeys(GPU_MEMORY_FIELDS)),
        **current_jobs().health(),
    }
    return jsonify(HealthOut().dump(body)), 503 if runtime.state == FAILED else 200
