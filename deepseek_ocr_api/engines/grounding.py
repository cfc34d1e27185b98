"""DeepSeek-OCR's grounding tags turned into blocks with pixel boxes, and the text without the tags.

The model writes `<|ref|>label<|/ref|><|det|>[[x1, y1, x2, y2], ...]<|/det|>` before each region it reads,
with coordinates normalised to 0-999 whatever the page's shape; the region's text follows the tag.
"""
from __future__ import annotations

import re

NORMALISED = 999
TAGGED = re.compile(r"<\|ref\|>(?P<label>.*?)<\|/ref\|>\s*(?:<\|det\|>(?P<boxes>.*?)<\|/det\|>)?", re.S)
# A tag cut off by the end of the output (token budget, repetition guard): dropped from the text.
UNFINISHED = re.compile(r"<\|(?:ref|/ref|det)\|>(?:(?!<\|/det\|>).)*$", re.S)
# A box list without its ref, then any tag left over.
STRAY = re.compile(r"<\|det\|>.*?<\|/det\|>|<\|/?(?:ref|det|grounding)\|>", re.S)
NUMBER = r"\s*(-?\d+(?:\.\d+)?)\s*"
BOX = re.compile(r"\[" + ",".join([NUMBER] * 4) + r"\]")


def scale_box(values: tuple[float, float, float, float], width: int, height: int) -> list[int]:
    """0-999 coordinates to pixels of a `width` x `height` page, ordered and clamped to the page."""
    x0, y0, x1, y1 = values
    xs = sorted(min(max(x, 0.0), NORMALISED) * width / NORMALISED for x in (x0, x1))
    ys = sorted(min(max(y, 0.0), NORMALISED) * height / NORMALISED for y in (y0, y1))
    return [round(xs[0]), round(ys[0]), round(xs[1]), round(ys[1])]


def parse_grounding(output: str, width: int, height: int) -> tuple[str, list[dict]]:
    """(text without tags, blocks) for one page's model output; malformed tags are dropped, never fatal."""
    output = UNFINISHED.sub("", output)
    matches = list(TAGGED.finditer(output))
    blocks: list[dict] = []
    pieces: list[str] = [output[: matches[0].start()] if matches else output]
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(output)
        region_text = output[match.end():end]
        pieces.append(region_text)
        label = STRAY.sub("", match["label"]).strip()
        text = STRAY.sub("", region_text).strip()
        for box in BOX.finditer(match["boxes"] or ""):
            blocks.append({"type": label, "text": text,
                           "box": scale_box(tuple(float(v) for v in box.groups()), width, height)})
    text = STRAY.sub("", "".join(pieces))
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return text, blocks


def grounding_text(blocks: list[dict], width: int, height: int) -> str:
    """The tags DeepSeek-OCR would write for these blocks: each one's label and 0-999 box, then its text. Engines that
    read boxes without writing tags answer a grounding prompt with this, so clients of DeepSeek's raw output can
    parse it (and parse_grounding turns it back into the same blocks)."""
    pieces = []
    for block in blocks:
        x0, y0, x1, y1 = block["box"]
        box = [round(x0 * NORMALISED / width), round(y0 * NORMALISED / height),
               round(x1 * NORMALISED / width), round(y1 * NORMALISED / height)]
        pieces.append(f"<|ref|>{block['type']}<|/ref|><|det|>[{box}]<|/det|>\n{block['text']}")
    return "\n\n".join(pieces)
