"""GET /health: is the engine loaded, and how much memory is in use."""
from __future__ import annotations

from flask import Blueprint, g, jsonify

from deepseek_ocr_api.runtime import FAILED, READY, current_runtime
from deepseek_ocr_api.engines.base import GPU_MEMORY_FIELDS
from deepseek_ocr_api.schemas import HealthOut

bp = Blueprint("health", __name__)

STATUS = {READY: "healthy", FAILED: "unhealthy"}


@bp.get("/health")
def health_check():
    """Health check: engine load state, device and GPU memory statistics.
    ---
    tags: [health]
    responses:
      200:
        description: The engine is loaded (status healthy) or still loading (status loading)
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Health'}
      503:
        description: The engine failed to load; engine_error says why
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Health'}
    """
    runtime = current_runtime()
    ready = runtime.state == READY
    body = {
        "status": STATUS.get(runtime.state, "loading"),
        "model_loaded": ready,
        "tokenizer_loaded": runtime.engine.tokenizer_loaded,
        **runtime.describe(),
        # Open to load balancers without a key: the hardware is only shown to callers with one.
        **(runtime.engine.gpu_memory() if g.get("authorised", True) else dict.fromkeys(GPU_MEMORY_FIELDS)),
    }
    return jsonify(HealthOut().dump(body)), 503 if runtime.state == FAILED else 200
