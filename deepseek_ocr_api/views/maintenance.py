"""POST /cleanup: release the memory the engine and the process can give back."""
from __future__ import annotations

from flask import Blueprint, jsonify

from deepseek_ocr_api.docs import documented
from deepseek_ocr_api.runtime import current_runtime
from deepseek_ocr_api.schemas import CleanupOut

bp = Blueprint("maintenance", __name__)

RELOADING = ("Memory cleanup completed; the engine had failed to load and is loading again (see /health) / "
             "内存清理完成；引擎此前加载失败，正在重新加载（见 /health）")


@bp.post("/cleanup")
@documented("maintenance", "清理内存", ok="Memory figures after the cleanup", response=CleanupOut)
def cleanup_memory():
    """Cleanup memory: garbage-collect, empty GPU caches, return freed heap to the OS; retry a failed engine load."""
    report = current_runtime().cleanup()
    body = {
        "message": RELOADING if report.reloading else "Memory cleanup completed / 内存清理完成",
        "gpu_memory_allocated": report.gpu_after["gpu_memory_allocated"],
        "gpu_memory_reserved": report.gpu_after["gpu_memory_reserved"],
        "gpu_memory_allocated_before": report.gpu_before["gpu_memory_allocated"],
        "gpu_memory_reserved_before": report.gpu_before["gpu_memory_reserved"],
        "process_memory_before": f"{report.process_mb_before:.1f} MB",
        "process_memory_after": f"{report.process_mb_after:.1f} MB",
        "objects_collected": report.objects_collected,
    }
    return jsonify(CleanupOut().dump(body))
