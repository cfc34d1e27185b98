"""The OpenAI-compatible API through the real `openai` package against a real gunicorn: whole and streamed answers
on the embedded engine, token streaming on the tiny DeepSeek checkpoint, errors in OpenAI's shape, keys."""
from __future__ import annotations

import base64

import openai
import pytest
import requests

from tests.pages import character_error_rate, page_images, pdf_bytes, png_bytes, prose_page
from tests.servers import start_gunicorn

pytestmark = pytest.mark.slow  # real gunicorn servers

VLLM_MODEL = "deepseek-ai/DeepSeek-OCR"  # what clients written for vLLM send


def data_url(data: bytes, media_type: str = "image/png") -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


def ocr_messages(url: str, prompt: str | None = "Free OCR.") -> list[dict]:
    """The message vLLM's DeepSeek-OCR recipe sends: an image and the prompt."""
    content = [{"type": "image_url", "image_url": {"url": url}}]
    if prompt is not None:
        content.append({"type": "text", "text": prompt})
    return [{"role": "user", "content": content}]


@pytest.fixture(scope="module")
def client(server):
    # Closed after use: gunicorn's graceful stop waits for the keep-alive connections of a client left open.
    with openai.OpenAI(base_url=f"{server['url']}/v1", api_key="not-needed", max_retries=0) as client:
        yield client


def test_models_lists_the_model_being_served(client, server):
    served = requests.get(f"{server['url']}/health", timeout=10).json()["model"]
    assert [model.id for model in client.models.list()] == [served]


def test_a_chat_completion_returns_the_text_of_the_page(client):
    page = prose_page("en")
    answer = client.chat.completions.create(model=VLLM_MODEL, messages=ocr_messages(data_url(png_bytes(page.image))),
                                            temperature=0.0, max_tokens=8192)
    text = answer.choices[0].message.content
    assert character_error_rate(page.text, text) < 0.02
    assert answer.model.startswith("PP-OCRv6") and answer.choices[0].finish_reason == "stop"
    assert answer.usage.completion_tokens == len(text)  # the embedded engine counts characters
    assert answer.object == "chat.completion"


def test_a_streamed_completion_sends_the_lines_as_chunks_and_ends_with_stop(client):
    page = prose_page("en")
    stream = client.chat.completions.create(model=VLLM_MODEL, messages=ocr_messages(data_url(png_bytes(page.image)),
                                                                                   prompt=None), stream=True)
    chunks = list(stream)
    pieces = [chunk.choices[0].delta.content for chunk in chunks if chunk.choices and chunk.choices[0].delta.content]
    assert len(pieces) > 3  # a chunk per line, not one lump
    assert character_error_rate(page.text, "".join(pieces)) < 0.02
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_a_pdf_and_several_images_are_read_as_pages_in_order(client):
    first, second = page_images(2)
    pdf = client.chat.completions.create(model=VLLM_MODEL, messages=ocr_messages(
        data_url(pdf_bytes([first, second]), "application/pdf")))
    text = pdf.choices[0].message.content
    assert text.index("Annual Report") < text.index("<--- Page Split --->") < text.index("Revenue grew")
    images = client.chat.completions.create(model=VLLM_MODEL, messages=[{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": base64.b64encode(png_bytes(second)).decode()}},  # bare base64
        {"type": "image_url", "image_url": {"url": data_url(png_bytes(first))}}]}])
    text = images.choices[0].message.content
    assert text.index("Revenue grew") < text.index("Annual Report")


def test_a_grounding_prompt_answers_with_deepseek_tags_a_client_can_parse(client):
    from deepseek_ocr_api.engines.grounding import parse_grounding

    page = prose_page("en")
    answer = client.chat.completions.create(model=VLLM_MODEL, messages=ocr_messages(
        data_url(png_bytes(page.image)), "<image>\n<|grounding|>Convert the document to markdown."))
    raw = answer.choices[0].message.content
    assert raw.startswith("<|ref|>") and "<|det|>[[" in raw
    text, blocks = parse_grounding(raw, page.image.width, page.image.height)
    assert blocks and character_error_rate(page.text, text) < 0.05


def test_stop_and_max_tokens_cut_the_answer(client):
    page = prose_page("en")
    url = data_url(png_bytes(page.image))
    stopped = client.chat.completions.create(model=VLLM_MODEL, messages=ocr_messages(url), stop=["computer"])
    assert stopped.choices[0].message.content.endswith("into characters a ")
    short = client.chat.completions.create(model=VLLM_MODEL, messages=ocr_messages(url), max_tokens=12)
    assert short.choices[0].message.content == "Reading Prin" and short.choices[0].finish_reason == "length"


@pytest.mark.parametrize("messages, expected", [
    ([{"role": "user", "content": "Free OCR."}], "No image"),
    (ocr_messages("https://example.com/page.png"), "does not fetch images from example.com"),
    (ocr_messages("data:image/png;base64,bm90IGFuIGltYWdl"), "not a supported image"),
    (ocr_messages(data_url(png_bytes(prose_page("en").image)), "Describe this image in detail."), "cannot honour"),
])
def test_bad_requests_get_a_400_in_openai_error_shape(client, messages, expected):
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model=VLLM_MODEL, messages=messages)
    assert raised.value.status_code == 400
    error = raised.value.body  # the "error" object of the body
    assert expected in error["message"] and error["type"] == "invalid_request_error" and error["code"]


def test_other_routes_keep_the_contract_error_shape(server):
    body = requests.post(f"{server['url']}/ocr", timeout=10).json()
    assert set(body) == {"detail"}
    missing = requests.get(f"{server['url']}/v1/embeddings", timeout=10)
    assert missing.status_code == 404 and set(missing.json()) == {"error"}


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory):
    yield from start_gunicorn(tmp_path_factory, "keyed-openai", OCR_API_KEY="sesame")


def test_a_wrong_key_is_a_401_and_the_right_one_works(keyed_server):
    with openai.OpenAI(base_url=f"{keyed_server['url']}/v1", api_key="wrong", max_retries=0) as wrong:
        with pytest.raises(openai.AuthenticationError) as raised:
            wrong.models.list()
    assert raised.value.status_code == 401 and raised.value.body["type"] == "authentication_error"
    with openai.OpenAI(base_url=f"{keyed_server['url']}/v1", api_key="sesame", max_retries=0) as right:
        assert len(right.models.list().data) == 1
