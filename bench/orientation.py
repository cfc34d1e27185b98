"""How well the embedded engine finds which way up a page is: every image of a page set (a folder with
images/, such as the dev set) in all four quarter turns, optionally photographed askew first (--skew, degrees
counter-clockwise), through the engine's own steps: the detector's lines give the page's skew (line_skew), and the
page classifier sees the page turned square by it. Prints, per skew and turn, the pages turned right, turned wrong
and left as uploaded, and the milliseconds per page of the classifier (the detector's pass is the page's first
step of reading either way). --square-as-uploaded shows the classifier the page as uploaded (the engine before
2026-12-02). With --write, also writes each turned set (images/ turned, MANIFEST.tsv and truth/ copied) for scoring
a live server on it.

    .venv/bin/python -m bench.orientation ../shared/devset [--skew 0 7 -12] [--write /tmp/turned]
    python ../shared/devset/score.py --set /tmp/turned/90      # a server on :8031 reading the turned pages
"""
from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from PIL import Image

from bench.real_pages import askew
from deepseek_ocr_api.engines.embedded import EmbeddedEngine
from deepseek_ocr_api.engines.orientation import line_skew

TURNS = (0, 90, 180, 270)  # counter-clockwise, as the page is uploaded


def turned_set(skew: float, turn: int) -> str:
    """The folder --write writes a turned set to: "90", or "90-skew7" for pages turned 7 degrees askew first."""
    return f"{turn}-skew{skew:g}" if skew else str(turn)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", type=Path, help="a folder with images/ (and MANIFEST.tsv, truth/ for --write)")
    parser.add_argument("--skew", type=float, nargs="*", default=[0.0], metavar="DEGREES",
                        help="turn each page by this much counter-clockwise first, as if photographed askew")
    parser.add_argument("--square-as-uploaded", action="store_true",
                        help="show the classifier the page as uploaded, without turning it square by its lines")
    parser.add_argument("--write", type=Path, help="write the turned sets under this folder, one per turn")
    args = parser.parse_args()
    engine = EmbeddedEngine()
    engine.load()
    images = sorted(path for path in (args.pages / "images").iterdir() if path.is_file())
    print(f"{'skew':>5} {'turn':>4} {'pages':>5} {'right':>5} {'wrong':>5} {'as uploaded':>11} {'ms/page':>8}")
    for skew, turn in ((skew, turn) for skew in args.skew for turn in TURNS):
        right = wrong = kept = 0
        seconds = 0.0
        for path in images:
            page = Image.open(path).convert("RGB")
            page = (askew(page, skew) if skew else page).rotate(turn, expand=True)
            angle = 0.0 if args.square_as_uploaded else line_skew(engine.detect(page))
            started = time.perf_counter()
            rotation, _ = engine._orientation.detect(page, angle)
            seconds += time.perf_counter() - started
            engine.release_memory()
            if rotation == 0 and turn != 0:
                kept += 1
            elif rotation == turn:
                right += 1
            else:
                wrong += 1
            if args.write:
                folder = args.write / turned_set(skew, turn) / "images"
                folder.mkdir(parents=True, exist_ok=True)
                page.save(folder / path.name, quality=95)  # the manifest names each file; JPEGs stay JPEGs
        print(f"{skew:>5g} {turn:>4} {len(images):>5} {right:>5} {wrong:>5} {kept:>11} "
              f"{seconds / len(images) * 1000:>8.0f}", flush=True)
        if args.write:
            shutil.copy(args.pages / "MANIFEST.tsv", args.write / turned_set(skew, turn) / "MANIFEST.tsv")
            shutil.copytree(args.pages / "truth", args.write / turned_set(skew, turn) / "truth", dirs_exist_ok=True)


if __name__ == "__main__":
    main()
