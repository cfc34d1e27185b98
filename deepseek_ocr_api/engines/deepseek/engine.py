"""The DeepSeek-OCR engine: DeepSeek-OCR-2 natively (`native`), or v1 through its remote code when opted in."""
from __future__ import annotations

import logging
import time
from typing import Any

import torch
from PIL import Image

from deepseek_ocr_api.engines.base import Engine, Generation, OcrOutput, PageRequest
from deepseek_ocr_api.engines.deepseek.accelerator import (
    dtype_name,
    is_out_of_memory,
    memory_bytes,
    memory_figures,
    pick_device,
    pick_dtype,
    release_cached_memory,
)
from deepseek_ocr_api.engines.deepseek.modes import V1_FAMILY, V1_MODES, V2_FAMILY, V2_MODES, mode_costs
from deepseek_ocr_api.engines.deepseek.native import NativeModel
from deepseek_ocr_api.engines.deepseek.remote_code import (
    RemoteCodeModel,
    check_remote_code_allowed,
    check_runtime_supports_v1,
)
from deepseek_ocr_api.engines.deepseek.settings import DeepSeekSettings
from deepseek_ocr_api.engines.grounding import parse_grounding
from deepseek_ocr_api.tasks import Task

log = logging.getLogger(__name__)


class DeepSeekEngine(Engine):
    """DeepSeek-OCR-2 through transformers' native classes, or v1 through its remote code when opted in."""

    name = "deepseek"
    supported_tasks = ("free_ocr", "markdown", "figure", "describe", "locate", "custom")

    def __init__(self, settings: DeepSeekSettings):
        self.settings = settings
        self.default_mode = settings.mode
        # Until the checkpoint says which family it is, describe the native one.
        self.family = V2_FAMILY
        self.resolution_modes = mode_costs(V2_MODES)
        self.device: torch.device | None = None
        self.dtype: torch.dtype | None = None
        self.revision: str | None = settings.revision
        self._model: NativeModel | RemoteCodeModel | None = None

    @property
    def tokenizer_loaded(self) -> bool:
        return self._model is not None

    def load(self) -> None:
        if self._model is not None:
            return
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
            self._model = RemoteCodeModel(self.settings.model, self.settings.revision, device, dtype,
                                          self.settings.attention, self.settings.repetition_guard_tokens)
        else:
            self._model = NativeModel(self.settings, device, dtype)
        self.family = V1_FAMILY if v1 else V2_FAMILY
        self.resolution_modes = mode_costs(modes)
        self.revision = self.settings.revision or checkpoint.get("_commit_hash")
        self.device, self.dtype = device, dtype
        # v1's infer() reads one page; natively, OCR_BATCH_SIZE, or by measurement: 8 on CUDA, 1 where a batch
        # decodes little faster and its image encoding none (CPU; see bench/deepseek_bench.py --batch).
        auto = 8 if device.type == "cuda" else 1
        self.max_batch_size = 1 if v1 else (self.settings.batch_size or auto)
        log.info("DeepSeek engine ready: %s (%s) on %s in %.1f s", self.settings.model, self.family, device,
                 time.monotonic() - started)

    def unload(self) -> None:
        self._model = None
        self.max_batch_size = 1
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

    def gpu_memory_bytes(self) -> dict[str, int]:
        return memory_bytes(self.device)

    def progress(self) -> dict[str, int] | None:
        generating = self._model.generating if self._model is not None else None
        if generating is None:
            return None
        return {"generated_tokens": generating.generated, "max_new_tokens": self.settings.max_new_tokens}

    def release_memory(self) -> None:
        release_cached_memory(self.device)

    def out_of_memory(self, exc: BaseException) -> str | None:
        if isinstance(exc, torch.OutOfMemoryError):  # raised by CUDA's allocator only
            return "CUDA"
        if is_out_of_memory(exc):  # MPS says so in a RuntimeError, as does the CPU allocator
            return "RAM" if self.device is None or self.device.type == "cpu" else self.device.type.upper()
        return super().out_of_memory(exc)

    def infer(self, image: Image.Image, task: Task, mode: str, generation: Generation | None = None) -> OcrOutput:
        return self.infer_batch([PageRequest(image, task, mode, generation)])[0]

    def infer_batch(self, pages: list[PageRequest]) -> list[OcrOutput]:
        if isinstance(self._model, RemoteCodeModel):
            texts = [self._model.read(page.image, page.task.prompt, page.mode, page.generation) for page in pages]
        else:
            texts = self._model.read_batch([page.image for page in pages], [page.task.prompt for page in pages],
                                           pages[0].mode, [page.generation for page in pages])
        outputs = []
        for page, text in zip(pages, texts, strict=True):
            plain, blocks = parse_grounding(text.text, page.image.width, page.image.height)
            outputs.append(OcrOutput(plain, page.mode, text.finish_reason, text.tokens, blocks, raw=text.text))
        return outputs
