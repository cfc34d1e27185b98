"""The OpenAI-compatible API on the DeepSeek engine (the tiny checkpoint, real gunicorn, the real `openai` package):
tokens streamed as they are generated, and max_tokens per page."""
from __future__ import annotations

import time

import openai
import pytest

from tests.servers import start_gunicorn
from tests.test_openai import VLLM_MODEL, data_url, ocr_messages

pytestmark = pytest.mark.slow  # real gunicorn servers

torch = pytest.importorskip("torch", reason="the DeepSeek engine needs torch: make install-deepseek")
from tests.test_deepseek import page, tiny_checkpoint  # noqa: E402,F401  (tiny_checkpoint is a fixture)


@pytest.fixture(scope="module")
def deepseek_client(tmp_path_factory, tiny_checkpoint):  # noqa: F811
    server = start_gunicorn(tmp_path_factory, "openai-deepseek", OCR_ENGINE="deepseek", OCR_MODEL=str(tiny_checkpoint),
                            OCR_MAX_NEW_TOKENS="24", OCR_REPETITION_GUARD_TOKENS="0", OMP_NUM_THREADS="1",
                            HF_HUB_OFFLINE="1")
    url = next(server)["url"]
    with openai.OpenAI(base_url=f"{url}/v1", api_key="not-needed", max_retries=0) as client:
        yield client
    server.close()


def test_the_deepseek_engine_streams_tokens_as_they_are_generated(deepseek_client):
    stream = deepseek_client.chat.completions.create(
        model=VLLM_MODEL, messages=ocr_messages(data_url(page())), stream=True,
        stream_options={"include_usage": True})
    chunks = list(stream)
    pieces = [chunk.choices[0].delta.content for chunk in chunks if chunk.choices and chunk.choices[0].delta.content]
    assert len(pieces) > 1  # tokens, one chunk at a time, before the last
    usage = chunks[-1].usage
    assert usage.completion_tokens == 24 and usage.prompt_tokens > 24  # the vision tokens count as prompt
    finished = [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices and chunk.choices[0].finish_reason]
    assert finished == ["length"]  # the tiny random model never ends: it hits the 24-token budget
    whole = deepseek_client.chat.completions.create(model=VLLM_MODEL, messages=ocr_messages(data_url(page())))
    assert whole.choices[0].message.content == "".join(pieces).strip()  # greedy: the same text either way


def test_max_tokens_bounds_each_page_on_the_deepseek_engine(deepseek_client):
    answer = deepseek_client.chat.completions.create(model=VLLM_MODEL, messages=ocr_messages(data_url(page())),
                                                     max_tokens=5)
    assert answer.usage.completion_tokens == 5 and answer.choices[0].finish_reason == "length"


def test_a_client_that_goes_away_stops_the_generation(tmp_path, tiny_checkpoint):  # noqa: F811
    from deepseek_ocr_api import chat
    from deepseek_ocr_api.tasks import parse_prompt
    from tests.apps import make_app
    from tests.test_deepseek import loaded_engine

    # 3000 tokens take about 15 s here; the page's generation must end as soon as its reader has gone.
    engine = loaded_engine(tiny_checkpoint, MAX_NEW_TOKENS=3000, REPETITION_GUARD_TOKENS=0)
    app = make_app(tmp_path, engine, MAX_NEW_TOKENS=3000)
    runtime = app.extensions["ocr"]
    streamed = chat.stream(runtime, chat.ChatRequest(parse_prompt("Free OCR."), "Free OCR.", [page()]),
                           app.extensions["settings"])
    assert isinstance(next(streamed), str)  # a token: the generation is under way, holding the engine
    streamed.close()  # what the server does when the client disconnects
    stopped = time.monotonic()
    assert runtime.wait_until_idle(timeout=5)
    assert time.monotonic() - stopped < 1.0
