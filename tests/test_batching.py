"""Batched pages: DeepSeek-OCR-2 reads a batch exactly as it reads each page alone (tiny checkpoint, float32, so that
near-ties cannot flip), the runtime gathers waiting pages into batches, and a batch that runs out of memory is read
page by page with a 507 for the page that still does not fit."""
from __future__ import annotations

import io
import threading
import time

import pytest
from PIL import Image, ImageDraw

pytest.importorskip("torch")
pytest.importorskip("transformers")

from deepseek_ocr_api.engines.base import Generation, OcrOutput, PageRequest  # noqa: E402
from deepseek_ocr_api.errors import OutOfMemory  # noqa: E402
from deepseek_ocr_api.runtime import OcrRuntime  # noqa: E402
from deepseek_ocr_api.tasks import parse_prompt, preset_task  # noqa: E402
from tests.apps import ScriptedEngine, make_app  # noqa: E402
from tests.test_deepseek import loaded_engine, tiny_checkpoint  # noqa: E402, F401
from tests.test_jobs_server import numbered_pdf  # noqa: E402

SIZES = [(400, 300), (1200, 900), (700, 1600), (2000, 800), (300, 300), (900, 1300), (1500, 1500), (640, 480)]
TASKS = [preset_task("free_ocr"), preset_task("markdown"), preset_task("free_ocr"), preset_task("describe"),
         parse_prompt("How many columns?"), preset_task("free_ocr"), preset_task("markdown"), preset_task("free_ocr")]


def drawn_page(index: int, size: tuple[int, int]) -> Image.Image:
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    draw.text((10 + 7 * index, 10 + 3 * index), f"Page {index} total {index * 17}.00\n" * 3, fill="black")
    draw.rectangle((5 * index, 9 * index, 60 + 11 * index, 90 + 4 * index), outline=(40 * index % 255, 0, 0))
    return image


@pytest.fixture(scope="module")
def float32_engine(tiny_checkpoint):  # noqa: F811
    # 400 tokens: long enough for the tiny random model to fall into a loop the guard catches.
    return loaded_engine(tiny_checkpoint, DTYPE="float32", MAX_NEW_TOKENS=400, REPETITION_GUARD_TOKENS=64)


def requests_for(mode: str) -> list[PageRequest]:
    pages = [PageRequest(drawn_page(index, size), task, mode) for index, (size, task) in enumerate(zip(SIZES, TASKS))]
    pages[5].generation = Generation(max_new_tokens=7)  # its own budget, smaller than the others'
    return pages


def seen(output: OcrOutput) -> tuple:
    return output.raw, output.text, output.finish_reason, output.tokens, output.blocks


@pytest.mark.parametrize("mode", ["small", "base", "gundam"])
def test_a_batch_reads_every_page_exactly_as_it_reads_alone(float32_engine, mode):
    pages = requests_for(mode)
    alone = [seen(float32_engine.infer_batch([page])[0]) for page in pages]
    reasons = {outcome[2] for outcome in alone}
    assert {"repetition", "max_new_tokens"} <= reasons, reasons  # both kinds of cut are in the batches
    for size in (2, 4, 8):
        together = []
        for start in range(0, len(pages), size):
            together += [seen(output) for output in float32_engine.infer_batch(pages[start:start + size])]
        assert together == alone, f"batch of {size} at mode {mode}"


def test_a_batch_streams_each_page_its_own_text(float32_engine):
    pages = requests_for("small")[:3]
    pieces = [[] for _ in pages]
    for page, collected in zip(pages, pieces):
        page.generation = Generation(max_new_tokens=30, on_text=collected.append)
    outputs = float32_engine.infer_batch(pages)
    for output, collected in zip(outputs, pieces):
        assert "".join(collected).strip() == output.raw  # each stream is its own page's text, nothing after it


def post_pdf(client, pages: int, **fields):
    return client.post("/ocr", data={"image": (io.BytesIO(numbered_pdf(pages)), "doc.pdf"), "mode": "small",
                                     "save_to_file": "false", **fields})


def test_the_pages_of_a_document_are_read_in_batches_with_the_same_text(tiny_checkpoint, tmp_path):  # noqa: F811
    single = make_app(tmp_path / "one", loaded_engine(tiny_checkpoint, DTYPE="float32")).test_client()
    batched = make_app(tmp_path / "four", loaded_engine(tiny_checkpoint, DTYPE="float32", BATCH_SIZE=4)).test_client()
    assert batched.get("/health").get_json()["batch_size"] == 4
    alone, together = post_pdf(single, 6).get_json(), post_pdf(batched, 6).get_json()
    assert [page["batch_size"] for page in alone["pages"]] == [1] * 6
    assert [page["batch_size"] for page in together["pages"]] == [4, 4, 4, 4, 2, 2]
    assert [page["text"] for page in together["pages"]] == [page["text"] for page in alone["pages"]]
    assert together["text"] == alone["text"]


class BatchingEngine(ScriptedEngine):
    """Records each batch; runs out of memory on any batch of more than one page, and on a page 999 pixels wide
    even alone."""

    def __init__(self, batch_size: int, gate: threading.Event | None = None):
        super().__init__()
        self.max_batch_size, self.gate, self.batches = batch_size, gate, []

    def infer_batch(self, pages):
        self.batches.append([page.image.width for page in pages])
        if self.gate is not None:
            assert self.gate.wait(30)
        if len(pages) > 1 and any(page.image.width == 999 for page in pages):
            raise MemoryError
        if pages[0].image.width == 999:
            raise MemoryError
        return [OcrOutput(f"{page.image.width}", page.mode) for page in pages]


def test_waiting_pages_of_concurrent_requests_share_a_batch():
    gate = threading.Event()
    engine = BatchingEngine(batch_size=3, gate=gate)
    engine.loaded = True
    runtime = OcrRuntime(engine=engine)
    runtime._load()
    task = preset_task("free_ocr")
    results = {}

    def read(width):
        results[width] = runtime.run(Image.new("RGB", (width, 10)), task)

    threads = [threading.Thread(target=read, args=(width,)) for width in (10, 20, 30, 40)]
    threads[0].start()
    deadline = time.monotonic() + 30
    while not engine.batches:  # the first page is being read, alone
        assert time.monotonic() < deadline
        time.sleep(0.01)
    for thread in threads[1:]:
        thread.start()
    while len(runtime._waiting) < 3:  # the others wait meanwhile
        assert time.monotonic() < deadline
        time.sleep(0.01)
    gate.set()
    for thread in threads:
        thread.join(30)
    assert sorted(map(sorted, engine.batches)) == [[10], [20, 30, 40]]
    assert {width: output.text for width, output in results.items()} == {w: str(w) for w in (10, 20, 30, 40)}
    assert [results[width].batch_size for width in (10, 20, 30, 40)] == [1, 3, 3, 3]


def test_a_batch_out_of_memory_is_read_page_by_page_and_only_the_page_that_cannot_fit_fails():
    engine = BatchingEngine(batch_size=3)
    engine.loaded = True
    runtime = OcrRuntime(engine=engine)
    runtime._load()
    task = preset_task("free_ocr")
    works = [runtime.submit(Image.new("RGB", (width, 10)), task) for width in (10, 999, 30)]
    assert runtime.result(works[0]).text == "10"
    with pytest.raises(OutOfMemory) as refused:
        runtime.result(works[1])
    assert refused.value.status_code == 507
    assert runtime.result(works[2]).text == "30"
    assert engine.batches == [[10, 999, 30], [10], [999], [30]]
    assert runtime.run(Image.new("RGB", (50, 10)), task).text == "50"  # and it keeps serving


def test_a_page_out_of_memory_in_a_document_is_a_507_and_the_server_serves_on(tmp_path):
    engine = BatchingEngine(batch_size=2)
    client = make_app(tmp_path, engine).test_client()
    wide = Image.new("RGB", (999, 50), "white")
    buffer = io.BytesIO()
    wide.save(buffer, "PNG")
    refused = client.post("/ocr", data={"image": (io.BytesIO(buffer.getvalue()), "wide.png")})
    assert refused.status_code == 507 and refused.get_json()["detail"]["error"]
    answered = client.post("/ocr", data={"image": (io.BytesIO(numbered_pdf(3)), "doc.pdf")})
    assert answered.status_code == 200
    assert [page["batch_size"] for page in answered.get_json()["pages"]] == [2, 2, 1]
