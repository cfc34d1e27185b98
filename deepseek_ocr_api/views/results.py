"""GET /results/<filename>: download a saved OCR result."""
from __future__ import annotations

from flask import Blueprint, Response

from deepseek_ocr_api.docs import documented
from deepseek_ocr_api.results import current_results

bp = Blueprint("results", __name__)


@bp.get("/results/<path:filename>")
@documented("results", "下载结果", ok="The result file", response={
    "text/plain": {"schema": {"type": "string"}}, "text/markdown": {"schema": {"type": "string"}},
    "application/json": {"schema": {"type": "object"}}, "image/png": {"schema": {"type": "string", "format": "binary"}}},
    errors={404: None}, parameters=[{
        "name": "filename", "in": "path", "required": True,
        "schema": {"type": "string", "example": "ocr_result_20250127_143022_3f9c2a1b7d4e5f60.txt"},
        "description": "The output_file returned by /ocr or /ocr-base64"}])
def download_result(filename: str):
    """Download a saved result file (text, markdown, JSON, or a page picture)."""
    path, media_type = current_results().locate(filename)
    # Result files are small text; reading them whole closes the file before the response leaves.
    return Response(path.read_bytes(), mimetype=media_type, headers={"Cache-Control": "no-store"})
