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


class RowStops:
    """A transformers stopping criterion for a batch of generations that each stop on their own, exactly where
    they would alone: at the end token, at their own token budget, when their client has gone, or once their output
    loops (the repetition guard). transformers pads a stopped row until the whole batch is done."""

    CHECK_EVERY = 8  # tokens between repetition checks; a check costs a host sync, and the cut keeps one copy anyway

    def __init__(self, prompt_length: int, budgets: list[int], cancelled: list, eos_token_id: int | None,
                 min_span: int):
        self.prompt_length = prompt_length  # of the padded batch
        self.budgets = budgets  # each row's max_new_tokens
        self.cancelled = cancelled  # each row's threading.Event
        self.eos_token_id = eos_token_id
        self.min_span = min_span
        self.reasons: list[str | None] = [None] * len(budgets)  # why each row stopped: complete, repetition, ...
        self.lengths: list[int | None] = [None] * len(budgets)  # tokens each row generated, its last one included
        self.generated = 0  # tokens so far, which /health shows as the progress of the generation in flight

    def stopped(self, row: int) -> bool:
        return self.reasons[row] is not None

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        generated = self.generated = input_ids.shape[1] - self.prompt_length
        last = input_ids[:, -1].tolist()
        check = self.min_span > 0 and generated >= self.min_span and generated % self.CHECK_EVERY == 0
        for row, token in enumerate(last):
            if self.stopped(row):
                continue
            if token == self.eos_token_id:
                self._stop(row, "complete", generated)
            elif self.cancelled[row].is_set():
                self._stop(row, "cancelled", generated)
            elif check and self._loops(input_ids[row]):
                self._stop(row, "repetition", generated)
            elif generated >= self.budgets[row]:
                self._stop(row, "max_new_tokens", generated)
        return torch.tensor([self.stopped(row) for row in range(len(last))], dtype=torch.bool,
                            device=input_ids.device)

    def _loops(self, ids) -> bool:
        """Only the recent tail is checked here; the caller finds where the loop began in the whole output."""
        window = max(self.min_span, 3 * MAX_PERIOD) + MAX_PERIOD
        tail_start = max(self.prompt_length, ids.shape[0] - window)
        return find_repetition(ids[tail_start:].tolist(), self.min_span) is not None

    def _stop(self, row: int, reason: str, generated: int) -> None:
        self.reasons[row], self.lengths[row] = reason, generated
