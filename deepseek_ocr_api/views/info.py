"""GET /: what this server is, which engine answers, and where everything lives."""
from __future__ import annotations

from importlib import metadata

from flask import Blueprint, current_app, jsonify

from deepseek_ocr_api.runtime import current_runtime
from deepseek_ocr_api.schemas import InfoOut

bp = Blueprint("info", __name__)

ENDPOINTS = {
    "GET /": "API information / API 信息",
    "GET /health": "Health check and memory statistics / 健康检查与内存统计",
    "POST /ocr": "OCR from an uploaded image, PDF or multi-page TIFF (multipart: image, prompt, save_to_file, mode, pages) / 文件 OCR",
    "POST /ocr-base64": "OCR from base64 (JSON: image_base64, prompt, save_to_file, mode, pages) / Base64 OCR",
    "GET /results/{filename}": "Download a saved result / 下载结果",
    "POST /cleanup": "Release memory / 清理内存",
    "GET /docs": "Swagger UI / 交互式文档",
    "GET /redoc": "ReDoc / API 文档",
}


@bp.get("/")
def api_information():
    """API information: name, engine, model, mode, limits and endpoints.
    ---
    tags: [info]
    responses:
      200:
        description: Service description
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Info'}
    """
    runtime = current_runtime()
    config = current_app.config
    body = {
        "name": "DeepSeek-OCR API",
        "name_zh": "DeepSeek-OCR 文字识别 API",
        "status": "running",
        "version": metadata.version("deepseek-ocr-api"),
        **runtime.describe(),
        "limits": {
            "max_upload_mb": config["MAX_UPLOAD_MB"],
            "max_image_pixels": config["MAX_IMAGE_PIXELS"],
            "max_page_side": config["MAX_PAGE_SIDE"],
            "max_aspect": config["MAX_ASPECT"],
            "max_pages": config["MAX_PAGES"],
            "pdf_dpi": config["PDF_DPI"],
        },
        "endpoints": ENDPOINTS,
    }
    return jsonify(InfoOut().dump(body))
