"""GET /: what this server is, which engine answers, and where everything lives."""
from __future__ import annotations

from importlib import metadata

from flask import Blueprint, jsonify

from deepseek_ocr_api.docs import current_endpoints, documented
from deepseek_ocr_api.runtime import current_runtime
from deepseek_ocr_api.schemas import InfoOut
from deepseek_ocr_api.settings import current_settings

bp = Blueprint("info", __name__)


@bp.get("/")
@documented("info", "API 信息", ok="Service description", response=InfoOut)
def api_information():
    """API information: name, engine, model, mode, limits and endpoints."""
    settings = current_settings()
    body = {
        "name": "DeepSeek-OCR API",
        "name_zh": "DeepSeek-OCR 文字识别 API",
        "status": "running",
        "version": metadata.version("deepseek-ocr-api"),
        **current_runtime().describe(),
        "limits": {
            "max_upload_mb": settings.max_upload_mb,
            "max_image_pixels": settings.max_image_pixels,
            "max_page_side": settings.max_page_side,
            "max_aspect": settings.max_aspect,
            "max_pages": settings.max_pages,
            "pdf_dpi": settings.pdf_dpi,
        },
        "endpoints": current_endpoints(),
    }
    return jsonify(InfoOut().dump(body))
