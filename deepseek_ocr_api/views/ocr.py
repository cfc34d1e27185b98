"""POST /ocr (multipart upload) and POST /ocr-base64 (JSON): read the text of an image."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from deepseek_ocr_api.errors import InvalidInput
from deepseek_ocr_api.images import decode_base64
from deepseek_ocr_api.schemas import OcrBase64In, OcrFormIn, OcrOut
from deepseek_ocr_api.service import run_ocr

bp = Blueprint("ocr", __name__)

UPLOAD_SUGGESTIONS = (
    "curl: -F \"image=@/path/to/image.png\" / curl 示例: -F \"image=@/path/to/image.png\"",
    "Python requests: files={'image': open('image.png', 'rb')}",
)


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


@bp.post("/ocr")
def ocr_from_file():
    """OCR from an uploaded image file.
    ---
    tags: [ocr]
    requestBody:
      required: true
      content:
        multipart/form-data:
          schema:
            type: object
            required: [image]
            properties:
              image: {type: string, format: binary, description: 'PNG, JPEG, TIFF (multi-page too), BMP, WebP, GIF or PDF'}
              prompt: {type: string, default: "<image>\\nFree OCR."}
              save_to_file: {type: boolean, default: true}
              mode: {type: string, description: 'Resolution mode (small, base, gundam for DeepSeek-OCR-2); omit for the default'}
              pages: {type: string, description: 'Pages of a PDF or multi-page TIFF to read, e.g. "1-3,7"; omit for all'}
              task: {type: string, enum: [free_ocr, markdown, figure, describe, locate], description: 'A preset prompt; `prompt` overrides it'}
              ref: {type: string, description: 'task=locate: the text to find'}
              output_format: {type: string, enum: [text, markdown, json], description: 'json saves the whole response'}
              return_image: {type: boolean, default: false, description: 'Save a PNG of each page with its blocks drawn'}
    responses:
      200:
        description: The text read from the image
        content:
          application/json:
            schema: {$ref: '#/components/schemas/OcrResult'}
      400: {description: 'Missing or invalid image, unsupported prompt, bad field', content: {application/json: {schema: {$ref: '#/components/schemas/Error'}}}}
      413: {description: Upload over the configured limit, content: {application/json: {schema: {$ref: '#/components/schemas/Error'}}}}
      503: {description: Engine not loaded, content: {application/json: {schema: {$ref: '#/components/schemas/Error'}}}}
      507: {description: Out of memory, content: {application/json: {schema: {$ref: '#/components/schemas/Error'}}}}
    """
    upload = request.files.get("image")
    if upload is None:
        raise missing_image()
    fields = OcrFormIn().load(request.form.to_dict())
    result = run_ocr(upload.read(), fields)
    return jsonify(OcrOut().dump(result))


@bp.post("/ocr-base64")
def ocr_from_base64():
    """OCR from a base64-encoded image.
    ---
    tags: [ocr]
    requestBody:
      required: true
      content:
        application/json:
          schema: {$ref: '#/components/schemas/OcrBase64Request'}
    responses:
      200:
        description: The text read from the image
        content:
          application/json:
            schema: {$ref: '#/components/schemas/OcrResult'}
      400: {description: 'Invalid JSON or base64, not an image, unsupported prompt', content: {application/json: {schema: {$ref: '#/components/schemas/Error'}}}}
      413: {description: Body over the configured limit, content: {application/json: {schema: {$ref: '#/components/schemas/Error'}}}}
      503: {description: Engine not loaded, content: {application/json: {schema: {$ref: '#/components/schemas/Error'}}}}
      507: {description: Out of memory, content: {application/json: {schema: {$ref: '#/components/schemas/Error'}}}}
    """
    body = json_body()
    if not isinstance(body, dict):
        raise InvalidInput("The body must be a JSON object such as {\"image_base64\": \"...\"}",
                           ["Send Content-Type: application/json with a JSON object / 请发送 JSON 对象"])
    fields = OcrBase64In().load(body)
    result = run_ocr(decode_base64(fields.pop("image_base64")), fields)
    return jsonify(OcrOut().dump(result))
