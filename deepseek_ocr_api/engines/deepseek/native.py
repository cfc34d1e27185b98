"""DeepSeek-OCR-2 through transformers' native `deepseek_ocr2` classes: loaded for low VRAM, read greedily with the
repetition guard."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import torch
from PIL import Image
from transformers import StoppingCriteria, TextStreamer

from deepseek_ocr_api.engines.base import Generation
from deepseek_ocr_api.engines.deepseek.accelerator import release_cached_memory
from deepseek_ocr_api.engines.deepseek.modes import V2_MODES
from deepseek_ocr_api.engines.deepseek.repetition import RepetitionGuard, find_repetition
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


class Cancelled(StoppingCriteria):
    """Stops the generation once its client has gone."""

    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids, scores, **kwargs) -> bool:
        return self.event.is_set()


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
        self.generating: RepetitionGuard | None = None  # the generation under way, for /health's progress

    def read(self, image: Image.Image, prompt: str, mode: str, generation: Generation | None = None) -> PageText:
        """One greedy generation; a loop is stopped by the guard and cut back to its first copy. With `generation`,
        the text is also handed on as it is generated, bounded and stoppable."""
        inputs = self.processor(images=image, text=prompt, return_tensors="pt", **V2_MODES[mode].processor_kwargs)
        inputs = inputs.to(self.device)
        for key in ("pixel_values", "pixel_values_local"):
            if key in inputs:
                inputs[key] = inputs[key].to(self.dtype)
        prompt_length = inputs["input_ids"].shape[1]
        vision_tokens = int((inputs["input_ids"] == self.processor.image_token_id).sum())
        guard = self.generating = RepetitionGuard(prompt_length, self.settings.repetition_guard_tokens)
        generation = generation or Generation()
        max_new_tokens = min(self.settings.max_new_tokens, generation.max_new_tokens or self.settings.max_new_tokens)
        streamer = TextCallbackStreamer(self.processor.tokenizer, generation.on_text) if generation.on_text else None
        try:
            with torch.inference_mode():
                output = self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                             temperature=None, top_p=None, top_k=None, streamer=streamer,
                                             stopping_criteria=[guard, Cancelled(generation.cancelled)])
        finally:
            self.generating = None
        generated = output[0, prompt_length:].tolist()
        del inputs, output
        if self.device.type != "cpu":
            release_cached_memory(self.device)

        tokenizer = self.processor.tokenizer
        finish_reason, kept = "complete", generated
        if tokenizer.eos_token_id in generated:
            kept = generated[:generated.index(tokenizer.eos_token_id)]
        elif guard.triggered:
            finish_reason = "repetition"
            loop = find_repetition(generated, self.settings.repetition_guard_tokens)
            kept = generated[:loop.keep] if loop else generated
            log.warning("Generation looped (a %d-token block from token %d on); cut after %d tokens",
                        loop.period if loop else 0, loop.start if loop else 0, len(generated))
        elif len(generated) >= max_new_tokens:
            finish_reason = "max_new_tokens"
        text = strip_control_tokens(tokenizer.decode(kept, skip_special_tokens=False), tokenizer)
        return PageText(text, finish_reason, {"prompt": prompt_length, "vision": vision_tokens,
                                              "generated": len(generated)})
