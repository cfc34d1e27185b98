"""The words of a line that a first, fast reading was unsure of: where they stand, and the line with them read again.

A line is read again only where it needs it: a long line with one doubtful character costs the second, slower
recogniser a word instead of the whole line. A word runs between spaces; the cuts fall in the middle of those
spaces, so no letter is cut. A run of characters without spaces longer than LONG_RUN (Chinese, a long number) is
cut CONTEXT characters either side of the doubt, halfway between two characters' time steps.
"""
from __future__ import annotations

import math
from typing import NamedTuple

LONG_RUN = 16
CONTEXT = 4
MIN_HEIGHTS = 10


class Span(NamedTuple):
    """Characters `first` to `last` (inclusive) of a reading, and the pixel columns of the line they stand in."""

    first: int
    last: int
    left: int
    right: int


def unsure_spans(text: str, sure: tuple[float, ...], gap_doubt: tuple[float, ...], least: float, space_doubt: float,
                 steps: list[tuple[int, int]], step_width: float, width: int, height: int) -> list[Span]:
    """The spans of `text` to read again: each word holding a character read with less than `least` sureness, or
    either side of a space left out (or put in) with `space_doubt` or more, widened by its neighbours (`_widened`);
    spans that meet merged.

    `steps` are the characters' time steps (first, last), `step_width` the line image's pixels per time step,
    `width` and `height` its size.
    """
    doubtful = {index for index, value in enumerate(sure) if value < least}
    for index, value in enumerate(gap_doubt):
        if value >= space_doubt:
            doubtful.update((index, index + 1))
    spans = []
    for index in sorted(doubtful):
        if text[index] == " ":  # a space put in: the words either side of it
            first = _word(text, index - 1)[0] if index > 0 else index
            last = _word(text, index + 1)[1] if index + 1 < len(text) else index
        else:
            first, last = _word(text, index)
            if last - first + 1 > LONG_RUN:
                first, last = max(first, index - CONTEXT), min(last, index + CONTEXT)
        spans.append(_widened(text, steps, first, last, step_width, width, MIN_HEIGHTS * height))
    return _merged(spans)


def _widened(text: str, steps: list[tuple[int, int]], first: int, last: int, step_width: float, width: int,
             width_needed: float) -> Span:
    """Characters `first` to `last` with the words either side added, in turn, until they stand at least
    `width_needed` pixels (MIN_HEIGHTS line heights) wide: read alone, a short word loses what its neighbours tell the recogniser (a colon or a full
    stop at its end, "Total" read as "Tota1"), and the recogniser pads a narrower image to about that width
    anyway."""
    left, right = _cut(text, steps, first, step_width, 0), _cut(text, steps, last + 1, step_width, width)
    while right - left < width_needed and (first > 0 or last + 1 < len(text)):
        if first > 0:
            first = _stepped_out(text, first, -1)
            left = _cut(text, steps, first, step_width, 0)
        if last + 1 < len(text) and right - left < width_needed:
            last = _stepped_out(text, last, 1)
            right = _cut(text, steps, last + 1, step_width, width)
    return Span(first, last, left, right)


def _stepped_out(text: str, end: int, direction: int) -> int:
    """The span's first (`direction` -1) or last (1) character once the next word that way is taken in, or CONTEXT
    more characters inside a long run."""
    beyond = end + direction
    if text[beyond] != " ":  # inside a long run
        return max(0, end - CONTEXT) if direction < 0 else min(len(text) - 1, end + CONTEXT)
    while 0 <= beyond + direction < len(text) and text[beyond + direction] == " ":
        beyond += direction
    if not 0 <= beyond + direction < len(text):
        return beyond
    return _word(text, beyond + direction)[0 if direction < 0 else 1]


def _merged(spans: list[Span]) -> list[Span]:
    """Spans that overlap, touch or stand one space apart, as one."""
    merged: list[Span] = []
    for span in spans:
        if merged and span.first <= merged[-1].last + 2:
            previous = merged[-1]
            merged[-1] = Span(min(previous.first, span.first), max(previous.last, span.last),
                              min(previous.left, span.left), max(previous.right, span.right))
        else:
            merged.append(span)
    return merged


def _word(text: str, index: int) -> tuple[int, int]:
    """The first and last index of the run of characters without spaces that holds `index`."""
    first, last = index, index
    while first > 0 and text[first - 1] != " ":
        first -= 1
    while last + 1 < len(text) and text[last + 1] != " ":
        last += 1
    return first, last


def _cut(text: str, steps: list[tuple[int, int]], index: int, step_width: float, edge: int) -> int:
    """The pixel column between characters `index - 1` and `index`: the middle of a space that stands there, or
    halfway between the two characters' time steps; `edge` before the first character or after the last."""
    if index <= 0 or index >= len(text):
        return edge
    if text[index - 1] == " ":
        step = sum(steps[index - 1]) / 2
    elif text[index] == " ":
        step = sum(steps[index]) / 2
    else:
        step = (steps[index - 1][1] + steps[index][0]) / 2
    return int(round((step + 0.5) * step_width))


def spliced(reading, span: Span, again, step_width: float):
    """`reading` (an embedded.Reading) with the characters of `span` replaced by `again`, the reading of the span's
    pixel columns alone, whose time steps are moved to the line's. A span read as nothing goes with one space."""
    first, end = len(again.text) - len(again.text.lstrip(" ")), len(again.text.rstrip(" "))
    kept = slice(first, max(first, end))
    text, gap_doubt = again.text[kept], list(again.gap_doubt[first:max(first, end - 1)])
    offset = span.left / step_width
    steps = [(round(start + offset), round(last + offset)) for start, last in again.steps[kept]]
    before, after = slice(0, span.first), slice(span.last + 1, None)
    if not text and reading.text[span.first - 1:span.first] == " ":
        before = slice(0, span.first - 1)
    elif not text and reading.text[span.last + 1:span.last + 2] == " ":
        after = slice(span.last + 2, None)
    head, tail = reading.text[before], reading.text[after]
    # The gaps: within the head, between head and new text, within it, between it (or the head) and the tail.
    gaps = list(reading.gap_doubt[:max(0, len(head) - 1)]) + ([0.0] if head and text else []) + gap_doubt
    gaps += ([0.0] if tail and (head or text) else []) + (list(reading.gap_doubt[after.start:]) if tail else [])
    scores = list(reading.scores[before]) + list(again.scores[kept]) + list(reading.scores[after])
    sure = list(reading.sure[before]) + list(again.sure[kept]) + list(reading.sure[after])
    known = [score for score in scores if not math.isnan(score)]
    return type(reading)(head + text + tail, sum(known) / len(known) if known else 0.0,
                         list(reading.steps[before]) + steps + list(reading.steps[after]), min(sure, default=0.0),
                         max(gaps, default=0.0), tuple(scores), tuple(sure), tuple(gaps))
