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
    they would alone: at their own token budget, when their client has gone, or once their output loops (the
    repetition guard); the end token stops a row through transformers' own criterion. transformers pads a stopped
    row until the whole batch is done.

    No step waits for the device: budgets are compared on the device, and the tokens are read back only every
    CHECK_EVERY tokens, for the loop check. Where a row ended (end token, budget) is found afterwards, in `length`."""

    CHECK_EVERY = 8  # tokens between repetition checks; a check costs a host sync, and the cut keeps one copy anyway

    def __init__(self, prompt_length: int, budgets: list[int], cancelled: list, eos_token_id: int | None,
                 min_span: int, device):
        import torch

        self.prompt_length = prompt_length  # of the padded batch
        self.budgets = budgets  # each row's max_new_tokens
        self.cancelled = cancelled  # each row's threading.Event
        self.eos_token_id = eos_token_id
        self.min_span = min_span
        # Rows stopped here (repetition, cancelled): why, and after how many tokens, the last one included.
        self.reasons: list[str | None] = [None] * len(budgets)
        self.lengths: list[int | None] = [None] * len(budgets)
        self.generated = 0  # tokens so far, which /health shows as the progress of the generation in flight
        self._budgets = torch.tensor(budgets, device=device)
        self._stopped = torch.zeros(len(budgets), dtype=torch.bool, device=device)

    def __call__(self, input_ids, scores, **kwargs):
        generated = self.generated = input_ids.shape[1] - self.prompt_length
        for row, event in enumerate(self.cancelled):
            if event.is_set() and self.reasons[row] is None:
                self._stop(row, "cancelled", generated)
        if self.min_span > 0 and generated >= self.min_span and generated % self.CHECK_EVERY == 0:
            ended = (input_ids[:, self.prompt_length:] == self.eos_token_id).any(dim=1).tolist()
            for row, budget in enumerate(self.budgets):
                if not ended[row] and self.reasons[row] is None and generated <= budget and self._loops(input_ids[row]):
                    self._stop(row, "repetition", generated)
        return self._stopped | (self._budgets <= generated)

    def length(self, row: int, tokens: list[int]) -> tuple[int, str | None]:
        """After the generation: how many of the row's tokens are its own (the end token included), and why it
        stopped ("end" for the end token, None when the batch ended first)."""
        limit = min(len(tokens), self.lengths[row] or self.budgets[row])
        if self.eos_token_id in tokens[:limit]:
            return tokens.index(self.eos_token_id) + 1, "end"
        if self.reasons[row] is not None:
            return limit, self.reasons[row]
        return limit, "max_new_tokens" if limit >= self.budgets[row] else None

    def _loops(self, ids) -> bool:
        """Only the recent tail is checked here; the caller finds where the loop began in the whole output."""
        window = max(self.min_span, 3 * MAX_PERIOD) + MAX_PERIOD
        tail_start = max(self.prompt_length, ids.shape[0] - window)
        return find_repetition(ids[tail_start:].tolist(), self.min_span) is not None

    def _stop(self, row: int, reason: str, generated: int) -> None:
        self.reasons[row], self.lengths[row] = reason, generated
        self._stopped[row] = True
