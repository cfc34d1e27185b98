"""DeepSeek-OCR-2 through transformers' native `deepseek_ocr2` classes: loaded for low VRAM, read greedily with the
repetition guard."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch
from PIL import Image
from transformers import TextStreamer
from transformers.generation.streamers import BaseStreamer

from deepseek_ocr_api.engines.base import Generation
from deepseek_ocr_api.engines.deepseek.accelerator import release_cached_memory
from deepseek_ocr_api.engines.deepseek.modes import V2_MODES
from deepseek_ocr_api.engines.deepseek.repetition import RowStops, find_repetition
from deepseek_ocr_api.engines.deepseek.settings import DeepSeekSettings

log = logging.getLogger(__name__)

# Kept in full precision under 8/4-bit: small, and the vision side is what reads the page.
UNQUANTIZED_MODULES = ["vision_tower", "multi_modal_projector", "lm_head"]


@dataclass(frozen=True)
class PageText:
    """What a model family wrote for one page, before grounding tags become blocks."""

    text: str
    finish_reason: str  # complete, repetition or max_new_tokens
    tokens: dict[str, int | None]


def quantization_config(quantization: str, device: torch.device, dtype: torch.dtype):
    """bitsandbytes settings for OCR_QUANTIZATION; a clear error where they cannot work."""
    if quantization == "none":
        return None
    if device.type != "cuda":
        raise RuntimeError(f"OCR_QUANTIZATION={quantization} needs a CUDA GPU (bitsandbytes); the engine is on "
                           f"{device}. Use OCR_QUANTIZATION=none, or run on a CUDA device")
    try:
        import bitsandbytes  # noqa: F401  (transformers needs it importable, not used here directly)
    except ImportError as exc:
        raise RuntimeError(f"OCR_QUANTIZATION={quantization} needs bitsandbytes: "
                           "pip install -e '.[quantization]' (or pip install bitsandbytes)") from exc
    from transformers import BitsAndBytesConfig

    if quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=UNQUANTIZED_MODULES)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype,
                              bnb_4bit_use_double_quant=True, llm_int8_skip_modules=UNQUANTIZED_MODULES)


class TextCallbackStreamer(TextStreamer):
    """transformers' TextStreamer, handing each decoded piece to a callback instead of printing it."""

    def __init__(self, tokenizer, on_text: Callable[[str], None]):
        super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=False)
        self.on_text = on_text
        self.end_text = tokenizer.eos_token or ""

    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
        text = text.replace(self.end_text, "") if self.end_text else text
        if text:
            self.on_text(text)


class RowStreamer(BaseStreamer):
    """Hands each row of a batched generation to that row's own TextCallbackStreamer, up to the row's own last
    token: its end token, its budget, or where the stopping criterion stopped it (after it, transformers feeds the
    row padding). transformers hands tokens over after the stopping criteria have seen them."""

    def __init__(self, streamers: list[TextCallbackStreamer | None], stops: RowStops):
        self.streamers, self.stops = streamers, stops
        self.fed = [-1] * len(streamers)  # tokens handed on per row; the prompt counts as -1 -> 0
        self.ended = [False] * len(streamers)  # the row's end token was handed on

    def put(self, value) -> None:
        rows = value if value.dim() > 1 else value[:, None]  # the prompt first (skipped), then one token per row
        for row, streamer in enumerate(self.streamers):
            last = self.stops.lengths[row] or self.stops.budgets[row]
            if streamer is None or self.ended[row] or self.fed[row] >= last:
                continue
            streamer.put(rows[row])
            self.fed[row] += 1
            self.ended[row] = self.fed[row] > 0 and int(rows[row][-1]) == self.stops.eos_token_id

    def end(self) -> None:
        for streamer in self.streamers:
            if streamer is not None:
                streamer.end()


def strip_control_tokens(text: str, tokenizer) -> str:
    """Drop begin/end/pad markers but keep grounding tags (`<|ref|>`, `<|det|>`), which are special tokens too."""
    for token in {tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token} - {None}:
        text = text.replace(token, "")
    return text.strip()


class NativeModel:
    """DeepSeek-OCR-2's processor and model, straight into the target dtype on the target device."""

    def __init__(self, settings: DeepSeekSettings, device: torch.device, dtype: torch.dtype):
        from transformers import AutoModelForImageTextToText, AutoProcessor

        self.settings, self.device, self.dtype = settings, device, dtype
        quantization = quantization_config(settings.quantization, device, dtype)
        self.processor = AutoProcessor.from_pretrained(settings.model, revision=settings.revision)
        # Never a float32 copy on the GPU first.
        self.model = AutoModelForImageTextToText.from_pretrained(
            settings.model, revision=settings.revision, dtype=dtype, device_map={"": device},
            attn_implementation=settings.attention, quantization_config=quantization).eval()
        self.generating: RowStops | None = None  # the generation under way, for /health's progress

    def read_batch(self, images: list[Image.Image], prompts: list[str], mode: str,
                   generations: list[Generation | None]) -> list[PageText]:
        """One greedy generation for pages of one mode: left-padded, masked, each row stopping on its own, so each
        page reads exactly as it would alone. A loop is stopped by the guard and cut back to its first copy. Each
        generation's text is also handed on as it is generated, bounded and stoppable."""
        inputs = self.processor(images=images, text=prompts, return_tensors="pt", padding=True,
                                **V2_MODES[mode].processor_kwargs)
        inputs = inputs.to(self.device)
        for key in ("pixel_values", "pixel_values_local"):
            if key in inputs:
                inputs[key] = inputs[key].to(self.dtype)
        prompt_length = inputs["input_ids"].shape[1]
        prompt_tokens = inputs["attention_mask"].sum(dim=1).tolist()
        vision_tokens = (inputs["input_ids"] == self.processor.image_token_id).sum(dim=1).tolist()
        generations = [generation or Generation() for generation in generations]
        budgets = [min(self.settings.max_new_tokens, generation.max_new_tokens or self.settings.max_new_tokens)
                   for generation in generations]
        tokenizer = self.processor.tokenizer
        stops = self.generating = RowStops(prompt_length, budgets, [g.cancelled for g in generations],
                                           tokenizer.eos_token_id, self.settings.repetition_guard_tokens, self.device)
        streamers = [TextCallbackStreamer(tokenizer, g.on_text) if g.on_text else None for g in generations]
        try:
            with torch.inference_mode():
                output = self.model.generate(**inputs, max_new_tokens=max(budgets), do_sample=False,
                                             temperature=None, top_p=None, top_k=None,
                                             streamer=RowStreamer(streamers, stops) if any(streamers) else None,
                                             stopping_criteria=[stops])
        finally:
            self.generating = None
        rows = output[:, prompt_length:].tolist()
        del inputs, output
        if self.device.type != "cpu":
            release_cached_memory(self.device)
        return [self._page_text(row, *stops.length(index, row), prompt_tokens[index], vision_tokens[index])
                for index, row in enumerate(rows)]

    def _page_text(self, generated: list[int], length: int, reason: str | None, prompt_tokens: int,
                   vision_tokens: int) -> PageText:
        """One row's text: its own tokens (not the padding after it stopped), cut at the end token or the loop."""
        tokenizer = self.processor.tokenizer
        generated = generated[:length]
        finish_reason, kept = "complete", generated
        if reason == "end":
            kept = generated[:-1]
        elif reason == "repetition":
            finish_reason = "repetition"
            loop = find_repetition(generated, self.settings.repetition_guard_tokens)
            kept = generated[:loop.keep] if loop else generated
            log.warning("Generation looped (a %d-token block from token %d on); cut after %d tokens",
                        loop.period if loop else 0, loop.start if loop else 0, len(generated))
        elif reason == "max_new_tokens":
            finish_reason = "max_new_tokens"
        text = strip_control_tokens(tokenizer.decode(kept, skip_special_tokens=False), tokenizer)
        return PageText(text, finish_reason, {"prompt": prompt_tokens, "vision": vision_tokens,
                                              "generated": len(generated)})
