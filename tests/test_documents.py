"""Documents: PDFs and multi-page TIFFs read page by page, through the embedded engine and the HTTP API."""
from __future__ import annotations

import base64
import io
import threading
import time

import pytest
from PIL import Image

from deepseek_ocr_api.documents import TIFF_MAX_PAGES
from tests.apps import make_app
from tests.attacks import many_page_tiff
from tests.pages import (
    PAGE_LINES,
    character_error_rate,
    normalise,
    page_images,
    pdf_bytes,
    png_bytes,
    prose_page,
    tiff_bytes,
)

SEPARATOR = "\n\n<--- Page Split --->\n\n"


def post_document(client, data, name="scan.pdf", **fields):
    return client.post("/ocr", data={"image": (io.BytesIO(data), name), **fields})


def assert_reads(text: str, lines: list[str]):
    assert character_error_rate(normalise("\n".join(lines), "en"), normalise(text, "en")) < 0.03, text


def test_a_three_page_pdf_reads_page_by_page_in_order(client):
    images = page_images(3)
    response = post_document(client, pdf_bytes(images))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["document_type"] == "pdf" and body["page_count"] == 3
    assert [page["page"] for page in body["pages"]] == [1, 2, 3]
    for page, image, lines in zip(body["pages"], images, PAGE_LINES):
        assert (page["width"], page["height"]) == image.size  # saved at 144 dpi, rendered at 144 dpi
        assert_reads(page["text"], lines)
    assert body["text"] == SEPARATOR.join(page["text"] for page in body["pages"])


def test_the_saved_result_holds_the_whole_document(client, app):
    body = post_document(client, pdf_bytes(page_images(2))).get_json()
    saved = client.get(f"/results/{body['output_file']}").get_data(as_text=True)
    assert saved == body["text"] and "<--- Page Split --->" in saved


def test_pages_selection(client):
    data = pdf_bytes(page_images(4))
    body = post_document(client, data, pages="2-3").get_json()
    assert [page["page"] for page in body["pages"]] == [2, 3]
    assert body["page_count"] == 4 and body["pages_read"] == 2  # the document's pages, and those read
    assert_reads(body["pages"][0]["text"], PAGE_LINES[1])
    body = post_document(client, data, pages="4, 1").get_json()
    assert [page["page"] for page in body["pages"]] == [1, 4] and body["pages_read"] == 2


@pytest.mark.parametrize("pages, message", [
    ("5", "page 5 does not exist; the document has 4 page(s)"),
    ("two", "'two' is not a page number"),
    ("3-1", "'3-1' is not a valid range"),
    ("0", "'0' is not a valid range"),
])
def test_bad_pages_selection_is_400(client, pages, message):
    response = post_document(client, pdf_bytes(page_images(4)), pages=pages)
    assert response.status_code == 400 and message in response.get_json()["detail"]["message"]


def test_more_pages_than_the_limit_is_400_naming_the_limit(tmp_path, embedded_engine):
    client = make_app(tmp_path, embedded_engine, MAX_PAGES=2).test_client()
    response = post_document(client, pdf_bytes(page_images(3)))
    assert response.status_code == 400
    detail = response.get_json()["detail"]
    assert "asks for 3 pages" in detail["message"] and "at most 2" in detail["message"]
    assert post_document(client, pdf_bytes(page_images(3)), pages="1-2").status_code == 200


def test_encrypted_pdf_is_400(client):
    from pypdf import PdfWriter

    writer = PdfWriter(clone_from=io.BytesIO(pdf_bytes(page_images(1))))
    writer.encrypt("secret")
    buffer = io.BytesIO()
    writer.write(buffer)
    response = post_document(client, buffer.getvalue())
    assert response.status_code == 400
    assert response.get_json()["detail"]["error"] == "Encrypted PDF / PDF 已加密"


def test_corrupt_pdf_is_400(client):
    data = pdf_bytes(page_images(2))
    response = post_document(client, data[: len(data) // 3])
    assert response.status_code == 400 and "truncated or corrupt" in response.get_json()["detail"]["message"]


def test_a_pdf_page_over_the_pixel_limit_is_400_before_any_page_is_read(tmp_path, embedded_engine):
    client = make_app(tmp_path, embedded_engine, MAX_IMAGE_PIXELS=100_000).test_client()
    response = post_document(client, pdf_bytes(page_images(2)))
    assert response.status_code == 400 and "over the limit of 100000" in response.get_json()["detail"]["message"]


def test_multi_page_tiff(client):
    images = page_images(2)
    body = post_document(client, tiff_bytes(images), name="scan.tiff").get_json()
    assert body["document_type"] == "tiff" and body["page_count"] == 2
    for page, lines in zip(body["pages"], PAGE_LINES):
        assert_reads(page["text"], lines)


def test_pdf_through_base64(client):
    payload = {"image_base64": "data:application/pdf;base64," + base64.b64encode(pdf_bytes(page_images(2))).decode(),
               "pages": "2"}
    body = client.post("/ocr-base64", json=payload).get_json()
    assert [page["page"] for page in body["pages"]] == [2]
    assert_reads(body["text"], PAGE_LINES[1])


def test_an_image_is_a_document_of_one_page_with_blocks(client):
    image = prose_page("en").image
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    body = post_document(client, buffer.getvalue(), name="page.png").get_json()
    assert body["document_type"] == "image" and body["page_count"] == 1 and len(body["pages"]) == 1
    blocks = body["pages"][0]["blocks"]
    assert (blocks[0]["type"], blocks[0]["text"]) == ("heading", "Reading Printed Pages")
    assert [block["type"] for block in blocks[1:]] == ["paragraph"] * (len(blocks) - 1) and len(blocks) >= 3
    for block in blocks:
        x0, y0, x1, y1 = block["box"]
        assert 0 <= x0 < x1 <= image.width and 0 <= y0 < y1 <= image.height


def test_health_counts_the_pages_of_a_document_being_read(client):
    data = pdf_bytes(page_images(4) * 2)
    reading = threading.Thread(target=lambda: post_document(client.application.test_client(), data))
    reading.start()
    seen = []
    while reading.is_alive():
        documents = client.get("/health").get_json()["documents_in_flight"]
        if documents and documents[0]["pages_total"]:  # 0 while the upload is still being decoded
            assert documents[0]["pages_total"] == 8
            seen.append(documents[0]["pages_done"])
        time.sleep(0.05)
    reading.join()
    assert seen and seen == sorted(seen) and seen[-1] <= 8
    assert client.get("/health").get_json()["documents_in_flight"] == []


def test_info_page_states_the_document_limits(client):
    limits = client.get("/").get_json()["limits"]
    assert limits["max_pages"] == 50 and limits["pdf_dpi"] == 144
    assert limits["max_page_side"] == 4000 and limits["max_aspect"] == 50


def test_output_format_json_saves_the_whole_response(client):
    body = post_document(client, pdf_bytes(page_images(2)), output_format="json").get_json()
    assert body["output_file"].endswith(".json") and body["output_format"] == "json"
    download = client.get(f"/results/{body['output_file']}")
    assert download.mimetype == "application/json"
    saved = download.get_json()
    assert saved["text"] == body["text"] and saved["output_file"] == body["output_file"]
    assert [page["page"] for page in saved["pages"]] == [1, 2] and saved["pages"][0]["blocks"]


def test_output_format_markdown_alone_selects_the_markdown_task(client):
    body = post_document(client, png_bytes(prose_page("en").image), name="page.png", output_format="markdown").get_json()
    assert body["task"] == "markdown" and body["output_file"].endswith(".md")
    assert body["text"].startswith("# Reading Printed Pages")


def test_return_image_saves_each_page_with_its_blocks_drawn(client):
    images = page_images(2)
    body = post_document(client, pdf_bytes(images), return_image="true").get_json()
    for page, image in zip(body["pages"], images):
        download = client.get(f"/results/{page['image_file']}")
        assert download.status_code == 200 and download.mimetype == "image/png"
        picture = Image.open(io.BytesIO(download.data))
        assert picture.size == image.size
        x0, y0, _, _ = page["blocks"][0]["box"]
        assert picture.getpixel((x0, y0)) == (220, 30, 30)  # the outline of the first block
    assert body["pages"][0]["image_file"].startswith(body["output_file"].rsplit(".", 1)[0])
    assert post_document(client, pdf_bytes(images)).get_json()["pages"][0]["image_file"] is None


@pytest.mark.parametrize("fields, status, message", [
    ({"task": "markdown"}, 200, None),
    ({"task": "figure"}, 400, "cannot honour"),
    ({"task": "locate", "ref": "the total"}, 400, "cannot honour"),
    ({"task": "locate"}, 400, "needs the text to find in the field 'ref'"),
    ({"task": "translate"}, 400, "task"),
    ({"output_format": "html"}, 400, "output_format"),
])
def test_task_field_with_the_embedded_engine(client, fields, status, message):
    response = post_document(client, png_bytes(page_images(1)[0]), name="page.png", **fields)
    assert response.status_code == status, response.get_json()
    if message:
        assert message in response.get_json()["detail"]["message"]


def test_a_prompt_overrides_the_task(client):
    body = post_document(client, png_bytes(page_images(1)[0]), name="page.png", task="markdown",
                         prompt="<image>\nFree OCR.").get_json()
    assert body["task"] == "free_ocr" and body["output_format"] == "text"


def test_a_truncated_multi_page_tiff_is_400(client):
    data = tiff_bytes(page_images(3))
    response = post_document(client, data[: len(data) * 2 // 3], name="scan.tiff")
    assert response.status_code == 400, response.get_json()
    assert "TIFF" in response.get_json()["detail"]["message"]


def test_a_pdf_page_is_rendered_no_larger_than_the_side_limit(tmp_path, embedded_engine):
    client = make_app(tmp_path, embedded_engine, MAX_PAGE_SIDE=600).test_client()
    images = page_images(1)
    body = post_document(client, pdf_bytes(images)).get_json()
    page = body["pages"][0]
    assert max(page["width"], page["height"]) == 600  # 144 dpi would have made it 900 px wide
    assert_reads(page["text"], PAGE_LINES[0])


def test_a_tiff_of_too_many_pages_is_400_at_once(client):
    started = time.monotonic()
    response = post_document(client, many_page_tiff(TIFF_MAX_PAGES + 500), name="scan.tiff", pages="1")
    assert response.status_code == 400
    assert f"more than {TIFF_MAX_PAGES} pages" in response.get_json()["detail"]["message"]
    assert time.monotonic() - started < 5
