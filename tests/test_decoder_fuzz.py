"""The decoders themselves, fuzzed: valid files of every format, mutated byte by byte, read and rendered page by
page. Whatever comes of it is a page or a 400 with the contract's body, never another exception."""
from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from deepseek_ocr_api.documents import read_document
from deepseek_ocr_api.errors import InvalidInput
from deepseek_ocr_api.images import PageLimits
from deepseek_ocr_api.pdf_renderer import RenderLimits
from tests.attacks import pdf_claiming_pages, tiff_second_page_without_width

pytestmark = pytest.mark.slow  # fuzzing the decoders: left out of `make test-fast`

LIMITS = PageLimits(max_pixels=4_000_000, max_side=1000, max_aspect=50)
RENDER_LIMITS = RenderLimits(timeout=10, memory_mb=1024)


def page(size=(64, 48)) -> Image.Image:
    image = Image.new("RGB", size, "white")
    image.paste((20, 20, 20), (8, 8, 40, 20))
    return image


def saved(format: str, **options) -> bytes:
    buffer = io.BytesIO()
    page().save(buffer, format, **options)
    return buffer.getvalue()


def multi_page(format: str, **options) -> bytes:
    buffer = io.BytesIO()
    page().save(buffer, format, save_all=True, append_images=[page((48, 64)), page((32, 32))], **options)
    return buffer.getvalue()


SEEDS = {
    "png": saved("PNG"),
    "jpeg": saved("JPEG"),
    "bmp": saved("BMP"),
    "gif": saved("GIF"),
    "webp": saved("WEBP"),
    "tiff": saved("TIFF"),
    "tiff-pages": multi_page("TIFF", compression="tiff_deflate"),
    "tiff-no-width": tiff_second_page_without_width(),
    "pdf": multi_page("PDF", resolution=72),
    "pdf-count": pdf_claiming_pages(3),
}
# PDFs cost a renderer process each: fewer examples, the same seeded search.
EXAMPLES = {"pdf": 25, "pdf-count": 15}


def mutations(data: bytes):
    """Byte flips, overwritten runs, insertions and truncations of `data`, weighted towards its headers."""
    position = st.one_of(st.integers(0, min(len(data), 64) - 1), st.integers(0, len(data) - 1))
    flip = st.tuples(st.just("set"), position, st.integers(0, 255))
    run = st.tuples(st.just("run"), position, st.binary(min_size=1, max_size=16))
    insert = st.tuples(st.just("insert"), position, st.binary(min_size=1, max_size=16))
    cut = st.tuples(st.just("cut"), position, st.just(b""))
    return st.lists(st.one_of(flip, run, insert, cut), min_size=1, max_size=6)


def mutate(data: bytes, edits) -> bytes:
    out = bytearray(data)
    for kind, position, value in edits:
        position %= max(len(out), 1)
        if kind == "insert":
            out[position:position] = value
        elif not out:
            continue
        elif kind == "set":
            out[position] = value
        elif kind == "run":
            out[position:position + len(value)] = value
        else:
            del out[position:]
    return bytes(out)


def read_every_page(data: bytes) -> None:
    try:
        document = read_document(data, limits=LIMITS, dpi=72, pages=None, max_pages=5, render_limits=RENDER_LIMITS)
        try:
            for number in document.numbers:
                image = document.render(number)
                assert image.mode == "RGB" and max(image.size) <= LIMITS.max_side
        finally:
            document.close()
    except InvalidInput as error:
        assert error.status_code == 400 and error.message and error.body()["detail"]["suggestions"] is not None


@pytest.mark.parametrize("name", SEEDS)
def test_every_seed_reads(name):
    read_every_page(SEEDS[name])


@pytest.mark.parametrize("name", SEEDS)
def test_mutated_files_are_read_or_refused_with_a_400(name):
    seed = SEEDS[name]

    @settings(max_examples=EXAMPLES.get(name, 60), derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(mutations(seed))
    def check(edits):
        read_every_page(mutate(seed, edits))

    check()
