"""DeepSeek-OCR sometimes loops, writing the same line until the token budget runs out: catch that early."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_PERIOD = 200  # tokens in the repeated block; a table row or a sentence fits


@dataclass(frozen=True)
class Repetition:
    """The tail of a generation is one block of `period` tokens repeated from `start` on."""

    start: int
    period: int

    @property
    def keep(self) -> int:
        """How many tokens to keep: everything before the loop plus one copy of the block."""
        return self.start + self.period


def find_repetition(ids, min_span: int, max_period: int = MAX_PERIOD) -> Repetition | None:
    """The loop at the end of `ids` if its last max(min_span, 3 x period) tokens repeat one block, else None.

    Requiring the span to cover both `min_span` tokens and three copies keeps legitimate repetition
    (a run of dots in a table of contents, a few empty table cells) from being cut.
    """
    if min_span <= 0:
        return None
    tokens = np.asarray(ids)
    length = len(tokens)
    for period in range(1, min(max_period, length // 3) + 1):
        span = max(min_span, 3 * period)
        if span > length:
            break
        tail = tokens[length - span:]
        if not np.array_equal(tail[period:], tail[:-period]):
            continue
        start = length - span
        while start > 0 and tokens[start - 1] == tokens[start - 1 + period]:
            start -= 1
        return Repetition(start, period)
    return None


class RepetitionGuard:
    """A transformers stopping criterion: stop generating once the output loops (batch of one)."""

    CHECK_EVERY = 8  # tokens; the check costs a host sync, and the cut keeps one copy anyway

    def __init__(self, prompt_length: int, min_span: int):
        self.prompt_length = prompt_length
        self.min_span = min_span
        self.triggered = False
        self.generated = 0  # tokens so far, which /health shows as the progress of the request in flight

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        generated = self.generated = input_ids.shape[1] - self.prompt_length
        stop = False
        if self.min_span > 0 and generated >= self.min_span and generated % self.CHECK_EVERY == 0:
            window = max(self.min_span, 3 * MAX_PERIOD) + MAX_PERIOD
            tail_start = max(self.prompt_length, input_ids.shape[1] - window)
            # Only the recent tail is checked here; the caller finds where the loop began in the whole output.
            stop = find_repetition(input_ids[0, tail_start:].tolist(), self.min_span) is not None
            self.triggered = self.triggered or stop
        return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)
