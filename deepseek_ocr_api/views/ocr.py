"""POST /ocr (multipart upload) and POST /ocr-base64 (JSON): read the text of an image."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from deepseek_ocr_api.docs import documented
from deepseek_ocr_api.errors import InvalidInput
from deepseek_ocr_api.images import decode_base64
from deepseek_ocr_api.jobs import current_jobs, job_owner
from deepseek_ocr_api.runtime import current_runtime
from deepseek_ocr_api.schemas import OcrBase64In, OcrFormIn, OcrOut, OcrUploadIn, result_file_json
from deepseek_ocr_api.service import OcrRequest, run_ocr, save_result

bp = Blueprint("ocr", __name__)

UPLOAD_SUGGESTIONS = (
    "curl: -F \"image=@/path/to/image.png\" / curl 示例: -F \"image=@/path/to/image.png\"",
    "Python requests: files={'image': open('image.png', 'rb')}",
)
OCR_ERRORS = {400: None, 408: None, 413: None, 503: None, 507: None}


def missing_image() -> InvalidInput:
    """Why no file arrived in the `image` field, as precisely as the request lets us say."""
    if "image" in request.form:
        return InvalidInput("The field 'image' arrived as text, not as a file: upload the file itself",
                            UPLOAD_SUGGESTIONS)
    if request.files:
        return InvalidInput(f"No file in the field 'image' (received file fields: {', '.join(sorted(request.files))})",
                            UPLOAD_SUGGESTIONS)
    return InvalidInput("No image was uploaded: send the file in the multipart field 'image'", UPLOAD_SUGGESTIONS)


def json_body():
    """The request body parsed as JSON, or None when it is not JSON. A body over the limit raises 413 here, before
    parsing, chunked or not; JSON nested too deep for the parser is not JSON to us."""
    data = request.stream.read()
    if request.max_content_length is not None and len(data) >= request.max_content_length:
        # werkzeug ends a chunked body at the limit without a word; a read past it raises the 413.
        request.stream.read(1)
    try:
        return current_app.json.loads(data)
    except (ValueError, RecursionError):
        return None


def multipart_upload() -> tuple[bytes, dict]:
    """The file and the validated form fields of a multipart upload (/ocr, POST /jobs)."""
    upload = request.files.get("image")
    if upload is None:
        raise missing_image()
    return upload.read(), OcrFormIn().load(request.form.to_dict())


def base64_upload() -> tuple[bytes, dict]:
    """The decoded image and the validated fields of a JSON body (/ocr-base64, POST /jobs)."""
    body = json_body()
    if not isinstance(body, dict):
        raise InvalidInput("The body must be a JSON object such as {\"image_base64\": \"...\"}",
                           ["Send Content-Type: application/json with a JSON object / 请发送 JSON 对象"])
    fields = OcrBase64In().load(body)
    return decode_base64(fields.pop("image_base64")), fields


def answer(data: bytes, fields: dict):
    """Read the upload, save its result file when asked, and dump the result: the one place it becomes JSON.
    Without a model here (OCR_ENGINE=none) the upload becomes a job the RQ workers read, and its file is theirs."""
    if current_runtime().engine.reads_through_queue:
        return jsonify(OcrOut().dump(current_jobs().read_now(data, fields, job_owner())))
    ocr_request = OcrRequest.from_fields(fields)
    result = run_ocr(data, ocr_request)
    if ocr_request.save_to_file:
        save_result(result, result_file_json)
    return jsonify(OcrOut().dump(result))


@bp.post("/ocr")
@documented("ocr", "文件 OCR", body=OcrUploadIn, body_type="multipart/form-data", ok="The text read from the upload",
            response=OcrOut, errors=OCR_ERRORS)
def ocr_from_file():
    """OCR from an uploaded image file, PDF or multi-page TIFF."""
    return answer(*multipart_upload())


@bp.post("/ocr-base64")
@documented("ocr", "Base64 OCR", body=OcrBase64In, body_example={"image_base64": "data:image/png;base64,iVBORw0KGgo..."},
            ok="The text read from the image", response=OcrOut, errors=OCR_ERRORS)
def ocr_from_base64():
    """OCR from a base64-encoded image."""
    return answer(*base64_upload())
