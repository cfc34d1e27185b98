"""POST /cleanup: release the memory the engine and the process can give back."""
from __future__ import annotations

import gc

from flask import Blueprint, jsonify

from deepseek_ocr_api.memory import resident_memory_mb, trim_heap
from deepseek_ocr_api.runtime import current_runtime
from deepseek_ocr_api.schemas import CleanupOut

bp = Blueprint("maintenance", __name__)

RELOADING = ("Memory cleanup completed; the engine had failed to load and is loading again (see /health) / "
             "内存清理完成；引擎此前加载失败，正在重新加载（见 /health）")


@bp.post("/cleanup")
def cleanup_memory():
    """Cleanup memory: garbage-collect, empty GPU caches, return freed heap to the OS; retry a failed engine load.
    ---
    tags: [maintenance]
    responses:
      200:
        description: Memory figures after the cleanup
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Cleanup'}
    """
    runtime = current_runtime()
    before = resident_memory_mb()
    gpu_before = runtime.engine.gpu_memory()
    collected = gc.collect()
    runtime.release_memory()
    trim_heap()
    reloading = runtime.retry_load()
    after = resident_memory_mb()
    gpu = runtime.engine.gpu_memory()
    body = {
        "message": RELOADING if reloading else "Memory cleanup completed / 内存清理完成",
        "gpu_memory_allocated": gpu["gpu_memory_allocated"],
        "gpu_memory_reserved": gpu["gpu_memory_reserved"],
        "gpu_memory_allocated_before": gpu_before["gpu_memory_allocated"],
        "gpu_memory_reserved_before": gpu_before["gpu_memory_reserved"],
        "process_memory_before": f"{before:.1f} MB",
        "process_memory_after": f"{after:.1f} MB",
        "objects_collected": collected,
    }
    return jsonify(CleanupOut().dump(body))
