"""The DeepSeek engine on a tiny random DeepSeek-OCR-2 checkpoint: the real transformers path, no hub, no GPU."""
from __future__ import annotations

import base64
import io
import json
import socket
import subprocess
import time

import pytest

torch = pytest.importorskip("torch", reason="the DeepSeek engine needs torch: make install-deepseek")
pytest.importorskip("transformers", reason="the DeepSeek engine needs transformers: make install-deepseek")

from PIL import Image, ImageDraw  # noqa: E402

from deepseek_ocr_api.engines.deepseek.engine import DeepSeekEngine  # noqa: E402
from deepseek_ocr_api.engines.deepseek.native import strip_control_tokens  # noqa: E402
from deepseek_ocr_api.engines.deepseek.repetition import find_repetition  # noqa: E402
from deepseek_ocr_api.engines.deepseek.settings import DeepSeekSettings  # noqa: E402
from deepseek_ocr_api.settings import Settings  # noqa: E402
from tests.apps import make_app  # noqa: E402
from tests.pages import png_bytes  # noqa: E402
from tests.servers import ROOT, guide_example, run_python, start_gunicorn  # noqa: E402
from tests.tiny_deepseek import build_tiny_checkpoint  # noqa: E402

MAX_NEW_TOKENS = 24


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    # Two cores: one torch thread keeps these tests steady next to the embedded engine's threads.
    torch.set_num_threads(1)
    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny-deepseek-ocr2"))


def deepseek_config(checkpoint, **overrides) -> dict:
    """Settings for the tiny checkpoint on the CPU, as create_app's test mapping takes them."""
    return {"ENGINE": "deepseek", "MODEL": str(checkpoint), "DEVICE": "cpu", "MAX_NEW_TOKENS": MAX_NEW_TOKENS,
            **overrides}


def loaded_engine(checkpoint, **overrides) -> DeepSeekEngine:
    settings = Settings.load({}, deepseek_config(checkpoint, **overrides))
    engine = DeepSeekEngine(DeepSeekSettings.from_settings(settings))
    engine.load()
    return engine


@pytest.fixture(scope="session")
def deepseek_engine(tiny_checkpoint):
    return loaded_engine(tiny_checkpoint)


@pytest.fixture
def deepseek_client(tmp_path, deepseek_engine):
    return make_app(tmp_path, deepseek_engine).test_client()


def page(width=1200, height=900) -> bytes:
    image = Image.new("RGB", (width, height), "white")
    ImageDraw.Draw(image).text((40, 40), "Invoice 2026-11-25\nTotal 42.00", fill="black")
    return png_bytes(image)


def post_page(client, data=None, **fields):
    return client.post("/ocr", data={"image": (io.BytesIO(data or page()), "page.png"), **fields})


def test_loads_from_disk_with_the_network_cut(tiny_checkpoint, monkeypatch, tmp_path):
    def no_network(*args, **kwargs):
        raise AssertionError("the engine tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    app = make_app(tmp_path, None, **deepseek_config(tiny_checkpoint))
    health = app.test_client().get("/health").get_json()
    assert health["status"] == "healthy", health["engine_error"]
    assert health["model_loaded"] is True and health["tokenizer_loaded"] is True
    assert health["engine"] == "deepseek" and health["model"] == str(tiny_checkpoint)
    assert health["model_family"] == "DeepSeek-OCR-2 (transformers native)"
    assert health["device"] == "cpu" and health["dtype"] == "bfloat16" and health["attention"] == "sdpa"
    assert health["gpu_name"] is None  # no GPU here: the guide's GPU fields are null, not invented


def test_ocr_answers_with_the_engine_metadata(deepseek_client, tiny_checkpoint):
    response = post_page(deepseek_client)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["success"] is True and isinstance(body["text"], str) and body["text"]
    assert (body["engine"], body["model"], body["device"], body["dtype"], body["quantization"]) == (
        "deepseek", str(tiny_checkpoint), "cpu", "bfloat16", "none")
    assert body["mode"] == "gundam" and body["task"] == "free_ocr" and body["output_format"] == "text"
    # Random weights never emit the end token within 24 tokens: the budget ran out, and the answer says so.
    assert body["finish_reason"] == "max_new_tokens" and body["tokens"]["generated"] == MAX_NEW_TOKENS
    assert "OCR_MAX_NEW_TOKENS" in body["message"]
    assert body["pages"][0]["rotation"] == 0 and body["pages"][0]["confidence"] is None  # not measured


def test_ocr_base64_with_grounding_prompt_reads_markdown(deepseek_client):
    payload = {"image_base64": base64.b64encode(page()).decode(), "save_to_file": True,
               "prompt": "<image>\n<|grounding|>Convert the document to markdown.", "mode": "base"}
    response = deepseek_client.post("/ocr-base64", json=payload)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["task"] == "markdown" and body["output_format"] == "markdown" and body["mode"] == "base"
    assert body["output_file"].endswith(".md")


@pytest.mark.parametrize("mode, size, vision_tokens", [
    ("small", (1200, 900), 145),
    ("base", (1200, 900), 257),
    ("gundam", (1200, 900), 257 + 6 * 144),  # a 4:3 page is cut into 3x2 tiles
    ("gundam", (2000, 700), 257 + 3 * 144),  # a wide strip into 3x1
    ("gundam", (600, 400), 257),  # no tiles for an image up to 768 px
])
def test_resolution_modes_set_the_vision_token_count(deepseek_client, mode, size, vision_tokens):
    body = post_page(deepseek_client, page(*size), mode=mode, save_to_file="false").get_json()
    assert body["mode"] == mode and body["tokens"]["vision"] == vision_tokens
    assert body["tokens"]["prompt"] > vision_tokens


def test_a_mode_the_model_lacks_is_400_listing_the_modes(deepseek_client):
    response = post_page(deepseek_client, mode="large")
    assert response.status_code == 400
    detail = response.get_json()["detail"]
    assert "no resolution mode 'large'" in detail["message"] and "gundam" in detail["message"]
    assert any("mode=small" in suggestion for suggestion in detail["suggestions"])


def test_modes_and_costs_are_listed_on_the_info_page(deepseek_client):
    info = deepseek_client.get("/").get_json()
    assert info["default_mode"] == "gundam" and set(info["resolution_modes"]) == {"small", "base", "gundam"}
    assert "145 vision tokens" in info["resolution_modes"]["small"]


def test_every_deepseek_prompt_passes_through(deepseek_client):
    for prompt, task in [("Parse the figure.", "figure"), ("Describe this image in detail.", "describe"),
                         ("<image>\nLocate <|ref|>the total<|/ref|> in the image.", "locate"),
                         ("What is the invoice number?", "custom")]:
        body = post_page(deepseek_client, prompt=prompt, mode="small", save_to_file="false").get_json()
        assert body["task"] == task, body


def test_out_of_memory_is_507_and_the_next_request_succeeds(deepseek_client, deepseek_engine, monkeypatch):
    real_generate = deepseek_engine._model.model.generate
    calls = []

    def generate_once_out_of_memory(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_generate(*args, **kwargs)

    monkeypatch.setattr(deepseek_engine._model.model, "generate", generate_once_out_of_memory)
    failed = post_page(deepseek_client, mode="small")
    assert failed.status_code == 507
    detail = failed.get_json()["detail"]
    assert detail["error"] == "GPU out of memory / GPU 内存不足"
    assert "Reduce image size / 减小图片尺寸" in detail["suggestions"]
    assert post_page(deepseek_client, mode="small").status_code == 200


def test_repetition_guard_cuts_a_looping_generation(tiny_checkpoint, tmp_path):
    image = Image.open(io.BytesIO(page()))
    from deepseek_ocr_api.tasks import parse_prompt

    unguarded = loaded_engine(tiny_checkpoint, MAX_NEW_TOKENS=400, REPETITION_GUARD_TOKENS=0)
    looping = unguarded.infer(image, parse_prompt("Free OCR."), "small")
    # Greedy decoding of random weights falls into a loop, as the real model sometimes does.
    assert looping.finish_reason == "max_new_tokens" and looping.tokens["generated"] == 400
    assert find_repetition(unguarded._model.processor.tokenizer.encode(looping.text, add_special_tokens=False), 64)

    client = make_app(tmp_path, loaded_engine(tiny_checkpoint, MAX_NEW_TOKENS=400,
                                              REPETITION_GUARD_TOKENS=64)).test_client()
    body = post_page(client, mode="small").get_json()
    assert body["finish_reason"] == "repetition" and body["tokens"]["generated"] < 400
    assert "repeating itself" in body["message"]
    # What it read before the loop is kept, with one copy of the repeated block.
    assert body["text"] and looping.text.startswith(body["text"]) and len(body["text"]) < len(looping.text) / 3


@pytest.mark.parametrize("tokens, span, expected", [
    ([1, 2, 3] + [7, 8, 9] * 30, 60, (3, 3)),  # a 3-token loop after a 3-token start
    ([5] * 10 + [4] * 80, 60, (10, 1)),
    (list(range(200)), 60, None),  # no loop
    ([1, 2, 3] + [7, 8] * 20, 60, None),  # repeats, but shorter than the span: a run of dots, an empty row
    ([7, 8, 9] * 30, 0, None),  # guard off
])
def test_find_repetition(tokens, span, expected):
    found = find_repetition(tokens, span)
    assert (None if found is None else (found.start, found.period)) == expected


def test_grounding_tags_survive_decoding(deepseek_engine):
    tokenizer = deepseek_engine._model.processor.tokenizer
    answer = "<|ref|>title<|/ref|><|det|>[[10,20,300,40]]<|/det|>"
    ids = [tokenizer.bos_token_id, *tokenizer.encode(answer, add_special_tokens=False)]
    assert strip_control_tokens(tokenizer.decode(ids, skip_special_tokens=False), tokenizer).replace(" ", "") == answer


def write_v1_checkpoint(folder):
    """config.json as deepseek-ai/DeepSeek-OCR has it, and remote code that leaves a mark if it ever runs."""
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({
        "model_type": "deepseek_vl_v2", "architectures": ["DeepseekOCRForCausalLM"],
        "auto_map": {"AutoConfig": "modeling_deepseekocr.DeepseekOCRConfig",
                     "AutoModel": "modeling_deepseekocr.DeepseekOCRForCausalLM"}}))
    marker = folder / "remote-code-ran"
    (folder / "modeling_deepseekocr.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    return marker


def test_v1_remote_code_is_refused_without_the_opt_in(tmp_path):
    marker = write_v1_checkpoint(tmp_path / "DeepSeek-OCR")
    client = make_app(tmp_path, None, ENGINE="deepseek", MODEL=str(tmp_path / "DeepSeek-OCR"),
                      DEVICE="cpu").test_client()
    health = client.get("/health")
    assert health.status_code == 503 and "OCR_TRUST_REMOTE_CODE=1" in health.get_json()["engine_error"]
    refused = post_page(client)
    assert refused.status_code == 503 and "remote code" in refused.get_json()["detail"]["message"]
    assert not marker.exists()


def test_v1_with_the_opt_in_says_which_transformers_it_needs(tmp_path):
    marker = write_v1_checkpoint(tmp_path / "DeepSeek-OCR")
    client = make_app(tmp_path, None, ENGINE="deepseek", MODEL=str(tmp_path / "DeepSeek-OCR"), DEVICE="cpu",
                      TRUST_REMOTE_CODE=True).test_client()
    message = post_page(client).get_json()["detail"]["message"]
    assert "transformers 4.46.3" in message and "pip install transformers==4.46.3" in message
    assert not marker.exists()


def test_quantization_without_cuda_fails_at_load_with_the_reason(tiny_checkpoint, tmp_path):
    client = make_app(tmp_path, None, **deepseek_config(tiny_checkpoint, QUANTIZATION="8bit")).test_client()
    health = client.get("/health").get_json()
    assert health["status"] == "unhealthy" and "needs a CUDA GPU" in health["engine_error"]


def test_auto_engine_without_a_gpu_chooses_embedded_and_says_why(tmp_path, tiny_checkpoint):
    from deepseek_ocr_api import create_app

    app = create_app({"TESTING": True, "RESULTS_DIR": str(tmp_path), "ENGINE": "auto", "MODEL": str(tiny_checkpoint)})
    assert app.extensions["ocr"].wait_until_settled(60)
    health = app.test_client().get("/health").get_json()
    assert health["engine"] == "embedded"
    assert health["engine_selection"] == "OCR_ENGINE=auto: no GPU (CUDA or MPS) is visible"



def test_auto_engine_with_a_gpu_takes_deepseek_only_when_the_model_is_on_disk(monkeypatch, tiny_checkpoint, tmp_path):
    from deepseek_ocr_api.engines import choose_automatically

    # No GPU here: pretend torch sees one, to check what auto does with the model on disk or not.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *args: "NVIDIA GeForce RTX 3060")
    name, reason = choose_automatically(Settings.load({}, {"MODEL": str(tiny_checkpoint)}))
    assert name == "deepseek" and "CUDA GPU NVIDIA GeForce RTX 3060 found" in reason
    name, reason = choose_automatically(Settings.load({}))
    assert name == "embedded" and "deepseek-community/DeepSeek-OCR-2 is not on this disk" in reason
    (tmp_path / "empty").mkdir()
    assert choose_automatically(Settings.load({}, {"MODEL": str(tmp_path / "empty")}))[0] == "embedded"


def test_health_shows_the_progress_of_a_long_generation(tiny_checkpoint, tmp_path):
    import threading

    app = make_app(tmp_path, loaded_engine(tiny_checkpoint, MAX_NEW_TOKENS=600, REPETITION_GUARD_TOKENS=0))
    assert app.test_client().get("/health").get_json()["progress"] is None
    reading = threading.Thread(target=lambda: post_page(app.test_client(), mode="small", save_to_file="false"))
    reading.start()
    seen = []
    while reading.is_alive():
        progress = app.test_client().get("/health").get_json()["progress"]
        if progress:
            seen.append(progress["generated_tokens"])
            assert progress["max_new_tokens"] == 600
        time.sleep(0.05)  # leave the reading thread the interpreter
    reading.join()
    assert len(seen) >= 2 and seen == sorted(seen) and 0 < seen[-1] <= 600
    assert app.test_client().get("/health").get_json()["progress"] is None

def test_cleanup_with_the_deepseek_engine(deepseek_client):
    body = deepseek_client.post("/cleanup").get_json()
    assert body["message"] == "Memory cleanup completed / 内存清理完成" and body["gpu_memory_allocated"] is None


@pytest.fixture(scope="module")
def deepseek_server(tmp_path_factory, tiny_checkpoint):
    """`OCR_ENGINE=deepseek OCR_MODEL=<dir> make run`, as the README tells a user to start it."""
    yield from start_gunicorn(tmp_path_factory, "deepseek", OCR_ENGINE="deepseek", OCR_MODEL=str(tiny_checkpoint),
                              OCR_MAX_NEW_TOKENS="16", OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")


@pytest.mark.slow
@pytest.mark.parametrize("example", ["ocr_from_file.py", "ocr_from_base64.py"])
def test_guide_examples_run_unchanged_against_the_deepseek_engine(deepseek_server, tmp_path, example):
    (tmp_path / "document.png").write_bytes(page())
    result = run_python(guide_example(example, deepseek_server["url"]), tmp_path)
    assert result.returncode == 0, result.stderr
    assert "✓ OCR Success!" in result.stdout and "Saved to: ocr_result_" in result.stdout


@pytest.mark.slow
def test_readme_curl_command_with_a_mode(deepseek_server, tmp_path):
    (tmp_path / "document.png").write_bytes(page())
    result = subprocess.run(
        ["curl", "-sS", "-X", "POST", f"{deepseek_server['url']}/ocr", "-F", "image=@document.png",
         "--form-string", "prompt=<image>\\n<|grounding|>Convert the document to markdown.", "-F", "mode=small"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    body = json.loads(result.stdout)
    assert body["engine"] == "deepseek" and body["mode"] == "small" and body["tokens"]["vision"] == 145
    assert body["task"] == "markdown" and (deepseek_server["results"] / body["output_file"]).is_file()


def test_a_model_that_is_not_on_disk_offline_says_how_to_get_it(tmp_path):
    client = make_app(tmp_path, None, ENGINE="deepseek", MODEL="deepseek-community/DeepSeek-OCR-2",
                      DEVICE="cpu").test_client()
    health = client.get("/health")
    assert health.status_code == 503
    assert "hf download deepseek-community/DeepSeek-OCR-2" in health.get_json()["engine_error"]


@pytest.mark.slow
def test_readme_python_mode_example_works_as_pasted(deepseek_server, tmp_path):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Resolution modes"):]
    snippet = section[section.index("```python\n") + len("```python\n"):section.index("```\n", section.index("```python"))]
    (tmp_path / "document.png").write_bytes(page())
    result = run_python(snippet.replace("http://localhost:8031", deepseek_server["url"]), tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("base 257 max_new_tokens")


class PromptRecorder:
    """The engine's processor, noting the prompt text of each call."""

    def __init__(self, processor):
        self.processor, self.prompts = processor, []

    def __call__(self, *args, **kwargs):
        self.prompts.extend(kwargs["text"])  # a batch: one prompt per page
        return self.processor(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.processor, name)


@pytest.mark.parametrize("fields, task, prompt", [
    ({}, "free_ocr", "<image>\nFree OCR."),
    ({"task": "markdown"}, "markdown", "<image>\n<|grounding|>Convert the document to markdown."),
    ({"task": "figure"}, "figure", "<image>\nParse the figure."),
    ({"task": "describe"}, "describe", "<image>\nDescribe this image in detail."),
    ({"task": "locate", "ref": "the total"}, "locate", "<image>\nLocate <|ref|>the total<|/ref|> in the image."),
    ({"task": "figure", "prompt": "How many columns?"}, "custom", "<image>\nHow many columns?"),
])
def test_tasks_reach_the_model_as_deepseek_prompts(deepseek_client, deepseek_engine, monkeypatch, fields, task, prompt):
    recorder = PromptRecorder(deepseek_engine._model.processor)
    monkeypatch.setattr(deepseek_engine._model, "processor", recorder)
    body = post_page(deepseek_client, mode="small", save_to_file="false", **fields).get_json()
    assert body["task"] == task and recorder.prompts == [prompt]


def test_a_pdf_through_the_deepseek_engine(deepseek_client):
    from tests.pages import page_images, pdf_bytes

    body = deepseek_client.post("/ocr", data={"image": (io.BytesIO(pdf_bytes(page_images(2))), "scan.pdf"),
                                              "mode": "small", "output_format": "json"}).get_json()
    assert body["document_type"] == "pdf" and [page["page"] for page in body["pages"]] == [1, 2]
    assert body["tokens"]["vision"] == 2 * 145 and body["output_file"].endswith(".json")
