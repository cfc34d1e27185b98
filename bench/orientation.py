"""How well the embedded engine finds which way up a page is: every image of a page set (a folder with
images/, such as the dev set) in all four quarter turns, through the engine's PageOrientation. Prints, per turn,
the pages turned right, turned wrong and left as uploaded, and the milliseconds per page; with --write, also
writes each turned set (images/ turned, MANIFEST.tsv and truth/ copied) for scoring a live server on it.

    .venv/bin/python -m bench.orientation ../shared/devset [--write /tmp/turned]
    python ../shared/devset/score.py --set /tmp/turned/90      # a server on :8031 reading the turned pages
"""
from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from PIL import Image

from deepseek_ocr_api.engines.embedded import cpu_session
from deepseek_ocr_api.engines.orientation import PageOrientation, model_path

TURNS = (0, 90, 180, 270)  # counter-clockwise, as the page is uploaded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", type=Path, help="a folder with images/ (and MANIFEST.tsv, truth/ for --write)")
    parser.add_argument("--write", type=Path, help="write the turned sets under this folder, one per turn")
    args = parser.parse_args()
    orientation = PageOrientation(cpu_session(str(model_path()), arena=False))
    images = sorted(path for path in (args.pages / "images").iterdir() if path.is_file())
    print(f"{'turn':>4} {'pages':>5} {'right':>5} {'wrong':>5} {'as uploaded':>11} {'ms/page':>8}")
    for turn in TURNS:
        right = wrong = kept = 0
        seconds = 0.0
        for path in images:
            page = Image.open(path).convert("RGB").rotate(turn, expand=True)
            started = time.perf_counter()
            rotation, _ = orientation.detect(page)
            seconds += time.perf_counter() - started
            if rotation == 0 and turn != 0:
                kept += 1
            elif rotation == turn:
                right += 1
            else:
                wrong += 1
            if args.write:
                folder = args.write / str(turn) / "images"
                folder.mkdir(parents=True, exist_ok=True)
                page.save(folder / path.name, quality=95)  # the manifest names each file; JPEGs stay JPEGs
        print(f"{turn:>4} {len(images):>5} {right:>5} {wrong:>5} {kept:>11} {seconds / len(images) * 1000:>8.0f}")
        if args.write:
            shutil.copy(args.pages / "MANIFEST.tsv", args.write / str(turn) / "MANIFEST.tsv")
            shutil.copytree(args.pages / "truth", args.write / str(turn) / "truth", dirs_exist_ok=True)


if __name__ == "__main__":
    main()
