"""The settings the DeepSeek engine reads, taken from the app's typed Settings (no torch needed to check them)."""
from __future__ import annotations

from dataclasses import dataclass

QUANTIZATIONS = ("none", "8bit", "4bit")
ATTENTIONS = ("sdpa", "eager", "flash_attention_2")
DTYPE_NAMES = ("auto", "bfloat16", "float16", "float32")
DEVICE_PATTERN = r"^(auto|cpu|mps|cuda(:\d+)?)$"


@dataclass(frozen=True)
class DeepSeekSettings:
    """The OCR_* settings the DeepSeek engines read, already validated by `deepseek_ocr_api.settings`."""

    model: str
    revision: str | None
    device: str
    dtype: str
    attention: str
    quantization: str
    max_new_tokens: int
    mode: str
    repetition_guard_tokens: int
    trust_remote_code: bool
    batch_size: int = 0  # 0: auto, by device

    @classmethod
    def from_settings(cls, settings) -> DeepSeekSettings:
        return cls(model=settings.model, revision=settings.model_revision or None, device=settings.device,
                   dtype=settings.dtype, attention=settings.attn, quantization=settings.quantization,
                   max_new_tokens=settings.max_new_tokens, mode=settings.mode,
                   repetition_guard_tokens=settings.repetition_guard_tokens,
                   trust_remote_code=settings.trust_remote_code, batch_size=settings.batch_size)
