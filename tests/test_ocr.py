"""OCR through the HTTP contract with the real embedded engine: text comes back right, in reading order."""
from __future__ import annotations

import base64
import io
import re

import pytest
from PIL import Image

from tests.pages import character_error_rate, normalise, png_bytes, prose_page, receipt_page, two_column_page

CER_BOUND = 0.02


def post_image(client, data: bytes, **fields):
    return client.post("/ocr", data={"image": (io.BytesIO(data), "upload.bin"), **fields})


def cer(page, text):
    language = "zh" if page.language == "zh" or page.name == "receipt" else "en"
    return character_error_rate(normalise(page.text, language), normalise(text, language))


@pytest.mark.parametrize("page", [prose_page("en"), prose_page("zh"), two_column_page("en"),
                                  two_column_page("zh"), receipt_page()], ids=lambda page: page.name)
def test_ocr_returns_the_rendered_text_in_reading_order(client, page):
    response = post_image(client, png_bytes(page.image), prompt="<image>\nFree OCR.", save_to_file="false")
    assert response.status_code == 200
    body = response.get_json()
    assert body["success"] is True
    assert body["message"] == "OCR completed successfully / OCR 成功完成"
    assert body["output_file"] is None
    assert cer(page, body["text"]) < CER_BOUND, body["text"]
    assert body["engine"] == "embedded" and body["model"].startswith("PP-OCRv6")
    assert body["task"] == "free_ocr" and body["output_format"] == "text"
    assert body["pages"][0]["rotation"] == 0  # an upright page is read as it came
    assert 0.9 < body["pages"][0]["confidence"] <= 1 and all(0.5 < b["confidence"] <= 1 for b in body["pages"][0]["blocks"])


@pytest.mark.parametrize("turned", [90, 180, 270])
@pytest.mark.parametrize("page", [prose_page("zh"), two_column_page("en"), receipt_page()], ids=lambda page: page.name)
def test_a_sideways_or_upside_down_page_is_turned_upright_and_read(client, page, turned):
    """The upload is the page turned `turned` degrees counter-clockwise; the engine turns it back and says so."""
    body = post_image(client, png_bytes(page.image.rotate(turned, expand=True)), return_image="true").get_json()
    read = body["pages"][0]
    assert read["rotation"] == turned  # clockwise, undoing the counter-clockwise turn
    assert (read["width"], read["height"]) == page.image.size  # the upright page's pixels
    picture = Image.open(io.BytesIO(client.get(f"/results/{read['image_file']}").data))
    assert picture.size == page.image.size  # the page picture, boxes drawn, is upright too
    assert cer(page, body["text"]) < CER_BOUND, body["text"]
    assert read["confidence"] > 0.9


def test_plain_text_keeps_lines_and_separates_paragraphs(client):
    page = prose_page("en")
    text = post_image(client, png_bytes(page.image), save_to_file="false").get_json()["text"]
    assert text.splitlines()[0] == "Reading Printed Pages"
    assert text.count("\n\n") == 6  # title + six paragraphs, a blank line between each


@pytest.mark.parametrize("prompt", ["<image>\nConvert document to markdown",
                                    "<image>\n<|grounding|>Convert the document to markdown.",
                                    "<image>\\nConvert document to markdown"])
def test_markdown_prompts_return_headings_and_paragraphs(client, prompt):
    page = prose_page("en")
    body = post_image(client, png_bytes(page.image), prompt=prompt, save_to_file="true").get_json()
    assert body["task"] == "markdown" and body["output_format"] == "markdown"
    blocks = body["text"].split("\n\n")
    assert re.match(r"^#{1,2} Reading Printed Pages$", blocks[0])
    assert blocks[1] == ("Optical character recognition turns pictures of printed text into characters "
                         "a computer can search and edit.")
    assert len(blocks) == 7
    assert body["output_file"].endswith(".md")


def test_literal_backslash_n_in_a_form_prompt_means_newline(client):
    page = prose_page("en")
    body = post_image(client, png_bytes(page.image), prompt="<image>\\nFree OCR.").get_json()
    assert body["task"] == "free_ocr"


@pytest.mark.parametrize("prompt", ["<image>\nDescribe this image in detail.", "<image>\nParse the figure.",
                                    "Translate this page into French"])
def test_prompt_the_engine_cannot_honour_is_a_400_naming_the_supported_tasks(client, prompt):
    response = post_image(client, png_bytes(prose_page("en").image), prompt=prompt)
    assert response.status_code == 400
    detail = response.get_json()["detail"]
    assert "Free OCR." in detail["message"] and "Convert document to markdown" in detail["message"]
    assert detail["error"] == "Unsupported prompt / 不支持的提示词"


@pytest.mark.parametrize("save, saved", [("true", True), ("True", True), ("1", True),
                                         ("false", False), ("False", False), ("0", False)])
def test_save_to_file_accepts_the_guide_spellings(client, save, saved):
    body = post_image(client, png_bytes(receipt_page().image), save_to_file=save).get_json()
    assert (body["output_file"] is not None) is saved


def test_save_to_file_defaults_to_true(client):
    body = post_image(client, png_bytes(receipt_page().image)).get_json()
    assert re.match(r"^ocr_result_\d{8}_\d{6}_[0-9a-f]{16}\.txt$", body["output_file"])


@pytest.mark.parametrize("format", ["PNG", "JPEG", "TIFF", "BMP", "WEBP", "GIF"])
def test_every_supported_format_is_read_whatever_the_filename_says(client, format):
    page = receipt_page()
    image = page.image.convert("L") if format == "GIF" else page.image
    options = {"quality": 95} if format in ("JPEG", "WEBP") else {}
    response = client.post("/ocr", data={"image": (io.BytesIO(png_bytes(image, format, **options)), "photo.png",
                                                   "image/png"), "save_to_file": "false"})
    assert response.status_code == 200, response.get_json()
    assert cer(page, response.get_json()["text"]) < CER_BOUND


def test_exif_orientation_is_applied(client):
    page = receipt_page()
    # Stored sideways with an EXIF tag that says "rotate 90 degrees clockwise to display".
    stored = page.image.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    data = png_bytes(stored, "JPEG", quality=95, exif=exif.tobytes())
    body = post_image(client, data, save_to_file="false").get_json()
    assert cer(page, body["text"]) < CER_BOUND
    assert (body["image_width"], body["image_height"]) == page.image.size


def test_transparent_png_reads_as_black_on_white(client):
    page = receipt_page()
    grey = page.image.convert("L")
    rgba = Image.new("RGBA", grey.size, (0, 0, 0, 0))
    rgba.putalpha(grey.point(lambda value: 255 - value))  # ink opaque, paper transparent
    body = post_image(client, png_bytes(rgba), save_to_file="false").get_json()
    assert cer(page, body["text"]) < CER_BOUND


@pytest.mark.parametrize("prefix", ["", "data:image/png;base64,", "data:image/jpeg;base64,",
                                    "data:application/octet-stream;base64,"])
def test_base64_with_or_without_any_data_url_prefix(client, prefix):
    page = prose_page("zh")
    encoded = base64.b64encode(png_bytes(page.image)).decode()
    response = client.post("/ocr-base64", json={"image_base64": prefix + encoded, "save_to_file": False})
    assert response.status_code == 200
    assert cer(page, response.get_json()["text"]) < CER_BOUND


def test_base64_accepts_line_wrapped_and_unpadded_input(client):
    page = receipt_page()
    encoded = base64.encodebytes(png_bytes(page.image)).decode().rstrip("=\n")
    response = client.post("/ocr-base64", json={"image_base64": encoded})
    assert response.status_code == 200
    assert cer(page, response.get_json()["text"]) < CER_BOUND


def test_blank_page_returns_empty_text_not_an_error(client):
    body = post_image(client, png_bytes(Image.new("RGB", (400, 300), "white"))).get_json()
    assert body["success"] is True and body["text"] == ""
    assert body["pages"][0]["rotation"] == 0 and body["pages"][0]["confidence"] is None
