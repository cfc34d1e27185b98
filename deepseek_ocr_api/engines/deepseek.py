"""The DeepSeek-OCR engine: DeepSeek-OCR-2 through transformers' native `deepseek_ocr2`, loaded for low VRAM."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from deepseek_ocr_api.engines.accelerator import (dtype_name, is_out_of_memory, memory_figures, pick_device,
                                                  pick_dtype, release_cached_memory)
from deepseek_ocr_api.engines.base import Engine, OcrOutput
from deepseek_ocr_api.engines.deepseek_v1 import (V1_MODES, RemoteCodeModel, check_remote_code_allowed,
                                                  check_runtime_supports_v1)
from deepseek_ocr_api.engines.repetition import RepetitionGuard, find_repetition
from deepseek_ocr_api.errors import OutOfMemory
from deepseek_ocr_api.grounding import parse_grounding
from deepseek_ocr_api.tasks import Task

log = logging.getLogger(__name__)

QUANTIZATIONS = ("none", "8bit", "4bit")
ATTENTIONS = ("sdpa", "eager", "flash_attention_2")
# Kept in full precision under 8/4-bit: small, and the vision side is what reads the page.
UNQUANTIZED_MODULES = ["vision_tower", "multi_modal_projector", "lm_head"]


@dataclass(frozen=True)
class DeepSeekSettings:
    """The OCR_* settings the DeepSeek engines read."""

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

    @classmethod
    def from_config(cls, config) -> "DeepSeekSettings":
        settings = cls(
            model=str(config["MODEL"]),
            revision=str(config["MODEL_REVISION"]) or None,
            device=str(config["DEVICE"]),
            dtype=str(config["DTYPE"]),
            attention=str(config["ATTN"]).lower(),
            quantization=str(config["QUANTIZATION"]).lower(),
            max_new_tokens=int(config["MAX_NEW_TOKENS"]),
            mode=str(config["MODE"]).lower(),
            repetition_guard_tokens=int(config["REPETITION_GUARD_TOKENS"]),
            trust_remote_code=str(config["TRUST_REMOTE_CODE"]).lower() in ("1", "true", "yes", "on"),
        )
        if settings.quantization not in QUANTIZATIONS:
            raise ValueError(f"OCR_QUANTIZATION must be one of {', '.join(QUANTIZATIONS)}, not {settings.quantization!r}")
        if settings.attention not in ATTENTIONS:
            raise ValueError(f"OCR_ATTN must be one of {', '.join(ATTENTIONS)}, not {settings.attention!r}")
        if settings.max_new_tokens < 1:
            raise ValueError("OCR_MAX_NEW_TOKENS must be at least 1")
        return settings


@dataclass(frozen=True)
class ResolutionMode:
    """How DeepSeek-OCR-2's processor views a page: one global view, optionally plus 768-pixel tiles."""

    description: str
    processor_kwargs: dict[str, Any]


# Vision tokens: (side / 16 / 4)^2 per view, plus one separator; tiles add 144 each.
V2_MODES = {
    "small": ResolutionMode("global 768x768 view only: 145 vision tokens",
                            {"crop_to_patches": False, "size": {"height": 768, "width": 768}, "tile_size": 768}),
    "base": ResolutionMode("global 1024x1024 view only: 257 vision tokens",
                           {"crop_to_patches": False, "size": {"height": 1024, "width": 1024}, "tile_size": 1024}),
    "gundam": ResolutionMode("global 1024 view plus 2-6 tiles of 768 (none for images up to 768 px): "
                             "257 + 144 per tile = 545 to 1121 vision tokens",
                             {"crop_to_patches": True, "min_patches": 2, "max_patches": 6}),
}


def mode_costs(modes: dict) -> dict[str, str]:
    """Mode name -> what it costs, as / lists them."""
    return {name: mode.description for name, mode in modes.items()}


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


def strip_control_tokens(text: str, tokenizer) -> str:
    """Drop begin/end/pad markers but keep grounding tags (`<|ref|>`, `<|det|>`), which are special tokens too."""
    for token in {tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token} - {None}:
        text = text.replace(token, "")
    return text.strip()


def page_output(text: str, image: Image.Image, task: Task, mode: str, finish_reason: str,
                tokens: dict[str, int | None]) -> OcrOutput:
    """What either model family wrote, as the engine's answer: grounding tags turned into blocks."""
    text, blocks = parse_grounding(text, image.width, image.height)
    return OcrOutput(text, "markdown" if task.name == "markdown" else "text", mode, finish_reason, tokens, blocks)


V2_FAMILY, V1_FAMILY = "DeepSeek-OCR-2 (transformers native)", "DeepSeek-OCR v1 (remote code)"


class DeepSeekEngine(Engine):
    """DeepSeek-OCR-2 through transformers' native classes, or v1 through its remote code when opted in."""

    name = "deepseek"
    supported_tasks = ("free_ocr", "markdown", "figure", "describe", "locate", "custom")

    def __init__(self, settings: DeepSeekSettings):
        self.settings = settings
        if settings.mode not in V2_MODES and settings.mode not in V1_MODES:
            raise ValueError(f"OCR_MODE={settings.mode!r} is not a DeepSeek-OCR resolution mode; choose one of "
                             f"{', '.join(V2_MODES)} (DeepSeek-OCR-2) or {', '.join(V1_MODES)} (v1)")
        self.default_mode = settings.mode
        # Until the checkpoint says which family it is, describe the native one.
        self.family = V2_FAMILY
        self.resolution_modes = mode_costs(V2_MODES)
        self.device: torch.device | None = None
        self.dtype: torch.dtype | None = None
        self.revision: str | None = settings.revision
        self._model = None
        self._processor = None
        self._v1: RemoteCodeModel | None = None
        self._generating: RepetitionGuard | None = None

    @property
    def ready(self) -> bool:
        return self._model is not None or self._v1 is not None

    @property
    def tokenizer_loaded(self) -> bool:
        return self._processor is not None or self._v1 is not None

    def load(self) -> None:
        from transformers import PretrainedConfig

        started = time.monotonic()
        # Only config.json first: which family this is decides whether any code from the hub may run.
        try:
            checkpoint, _ = PretrainedConfig.get_config_dict(self.settings.model, revision=self.settings.revision)
        except OSError as exc:
            raise RuntimeError(
                f"{self.settings.model} is neither a checkpoint folder nor a model in the Hugging Face cache, and "
                f"could not be downloaded ({exc.__class__.__name__}). Download it once with "
                f"`.venv/bin/hf download deepseek-community/DeepSeek-OCR-2 --local-dir <folder>` and set "
                f"OCR_MODEL=<folder>") from exc
        model_type = checkpoint.get("model_type")
        if model_type != "deepseek_ocr2" and "auto_map" not in checkpoint:
            raise RuntimeError(f"{self.settings.model} is a {model_type!r} model, not DeepSeek-OCR")
        v1 = model_type != "deepseek_ocr2"
        modes = V1_MODES if v1 else V2_MODES
        if self.settings.mode not in modes:
            raise RuntimeError(f"OCR_MODE={self.settings.mode} is not a mode of {V1_FAMILY if v1 else V2_FAMILY}; "
                               f"choose one of {', '.join(modes)}")
        if v1:
            check_remote_code_allowed(self.settings.model, self.settings.trust_remote_code)
        device = pick_device(self.settings.device)
        dtype = pick_dtype(self.settings.dtype, device)
        log.info("Loading %s on %s as %s (attention %s, quantization %s)", self.settings.model, device,
                 dtype_name(dtype), self.settings.attention, self.settings.quantization)
        if v1:
            check_runtime_supports_v1(device)
            if self.settings.quantization != "none":
                raise RuntimeError("OCR_QUANTIZATION applies to DeepSeek-OCR-2 only; set it to none for v1")
            self._v1 = RemoteCodeModel(self.settings.model, self.settings.revision, device, dtype,
                                       self.settings.attention)
        else:
            self._load_native(device, dtype)
        self.family = V1_FAMILY if v1 else V2_FAMILY
        self.resolution_modes = mode_costs(modes)
        self.revision = self.settings.revision or checkpoint.get("_commit_hash")
        self.device, self.dtype = device, dtype
        log.info("DeepSeek engine ready: %s (%s) on %s in %.1f s", self.settings.model, self.family, device,
                 time.monotonic() - started)

    def _load_native(self, device: torch.device, dtype: torch.dtype) -> None:
        from transformers import AutoModelForImageTextToText, AutoProcessor

        quantization = quantization_config(self.settings.quantization, device, dtype)
        processor = AutoProcessor.from_pretrained(self.settings.model, revision=self.settings.revision)
        # Straight into the target dtype on the target device: never a float32 copy on the GPU first.
        model = AutoModelForImageTextToText.from_pretrained(
            self.settings.model, revision=self.settings.revision, dtype=dtype, device_map={"": device},
            attn_implementation=self.settings.attention, quantization_config=quantization)
        self._processor, self._model = processor, model.eval()

    def unload(self) -> None:
        self._model = self._processor = self._v1 = None
        release_cached_memory(self.device)

    def describe(self) -> dict[str, Any]:
        dtype = dtype_name(self.dtype) if self.dtype else self.settings.dtype
        return {
            "engine": self.name,
            "model": self.settings.model,
            "model_family": self.family,
            "revision": self.revision,
            "device": str(self.device) if self.device else self.settings.device,
            "dtype": dtype,
            "quantization": self.settings.quantization,
            "attention": self.settings.attention,
            "mode": f"Low VRAM ({dtype}, {self.settings.attention}"
                    f"{'' if self.settings.quantization == 'none' else ', ' + self.settings.quantization})",
            "default_mode": self.default_mode,
            "resolution_modes": dict(self.resolution_modes),
            "supported_tasks": list(self.supported_tasks),
        }

    def gpu_memory(self) -> dict[str, str | None]:
        return memory_figures(self.device)

    def progress(self) -> dict[str, int] | None:
        generating = self._generating
        if generating is None:
            return None
        return {"generated_tokens": generating.generated, "max_new_tokens": self.settings.max_new_tokens}

    def release_memory(self) -> None:
        release_cached_memory(self.device)

    def infer(self, image: Image.Image, task: Task, mode: str) -> OcrOutput:
        try:
            return self._generate(image, task, mode)
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            log.warning("Out of memory reading a %dx%d image at mode %s", image.width, image.height, mode)
        # Outside the except block, so the traceback holding the failed step's tensors is gone before emptying.
        self.release_memory()
        raise OutOfMemory(
            f"The OCR process exceeded available {self.device.type.upper()} memory "
            f"reading a {image.width}x{image.height} image at mode {mode!r}",
            ["Reduce image size / 减小图片尺寸",
             "Use a smaller resolution mode (mode=base or small) / 使用更小的分辨率模式",
             "Close all other GPU applications / 关闭其他 GPU 应用程序",
             "Set OCR_QUANTIZATION=8bit or 4bit / 启用 8bit 或 4bit 量化",
             "Restart the API server / 重启 API 服务器"],
        )

    def _generate(self, image: Image.Image, task: Task, mode: str) -> OcrOutput:
        if self._v1 is not None:
            return self._generate_v1(image, task, mode)
        processor, model = self._processor, self._model
        inputs = processor(images=image, text=task.prompt, return_tensors="pt", **V2_MODES[mode].processor_kwargs)
        inputs = inputs.to(self.device)
        for key in ("pixel_values", "pixel_values_local"):
            if key in inputs:
                inputs[key] = inputs[key].to(self.dtype)
        prompt_length = inputs["input_ids"].shape[1]
        vision_tokens = int((inputs["input_ids"] == processor.image_token_id).sum())
        guard = self._generating = RepetitionGuard(prompt_length, self.settings.repetition_guard_tokens)
        try:
            with torch.inference_mode():
                output = model.generate(**inputs, max_new_tokens=self.settings.max_new_tokens, do_sample=False,
                                        temperature=None, top_p=None, top_k=None, stopping_criteria=[guard])
        finally:
            self._generating = None
        generated = output[0, prompt_length:].tolist()
        del inputs, output
        if self.device.type != "cpu":
            release_cached_memory(self.device)

        tokenizer = processor.tokenizer
        finish_reason, kept = "complete", generated
        if tokenizer.eos_token_id in generated:
            kept = generated[:generated.index(tokenizer.eos_token_id)]
        elif guard.triggered:
            finish_reason = "repetition"
            loop = find_repetition(generated, self.settings.repetition_guard_tokens)
            kept = generated[:loop.keep] if loop else generated
            log.warning("Generation looped (a %d-token block from token %d on); cut after %d tokens",
                        loop.period if loop else 0, loop.start if loop else 0, len(generated))
        elif len(generated) >= self.settings.max_new_tokens:
            finish_reason = "max_new_tokens"
        text = strip_control_tokens(tokenizer.decode(kept, skip_special_tokens=False), tokenizer)
        return page_output(text, image, task, mode, finish_reason,
                           {"prompt": prompt_length, "vision": vision_tokens, "generated": len(generated)})

    def _generate_v1(self, image: Image.Image, task: Task, mode: str) -> OcrOutput:
        """v1's infer() generates on its own; a loop can only be found, and cut, afterwards."""
        text = self._v1.read(image, task.prompt, mode)
        tokenizer = self._v1.tokenizer
        ids = tokenizer.encode(text, add_special_tokens=False)
        finish_reason = "complete"
        loop = find_repetition(ids, self.settings.repetition_guard_tokens)
        if loop is not None:
            finish_reason = "repetition"
            text = tokenizer.decode(ids[:loop.keep], skip_special_tokens=False)
        return page_output(text, image, task, mode, finish_reason,
                           {"prompt": None, "vision": None, "generated": len(ids)})
