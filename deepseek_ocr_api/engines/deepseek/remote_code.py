"""DeepSeek-OCR v1 (`deepseek-ai/DeepSeek-OCR`): the hub's remote code and its `infer()`, only when opted in."""
from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import torch
from PIL import Image

from deepseek_ocr_api.engines.base import Generation
from deepseek_ocr_api.engines.deepseek.modes import V1_MODES
from deepseek_ocr_api.engines.deepseek.native import PageText
from deepseek_ocr_api.engines.deepseek.repetition import find_repetition

# The versions DeepSeek's own README pins for this remote code.
V1_REQUIREMENTS = "transformers==4.46.3 tokenizers==0.20.3 einops addict easydict"


def check_remote_code_allowed(model: str, trust_remote_code: bool) -> None:
    """Remote code is code execution: refuse it unless the operator opted in, and say how."""
    if not trust_remote_code:
        raise RuntimeError(
            f"{model} is DeepSeek-OCR v1, which runs Python code downloaded with the model (remote code). "
            "It is not run unless you opt in with OCR_TRUST_REMOTE_CODE=1. Or use the native "
            "OCR_MODEL=deepseek-community/DeepSeek-OCR-2, which needs no remote code")


def check_runtime_supports_v1(device: torch.device) -> None:
    """The v1 remote code targets transformers 4.46 and calls `.cuda()` itself: say so before loading 6 GB."""
    import transformers

    if not transformers.__version__.startswith("4."):
        raise RuntimeError(
            f"DeepSeek-OCR v1's remote code was written for transformers 4.46.3 and cannot run on the installed "
            f"transformers {transformers.__version__}. Either use DeepSeek-OCR-2 natively "
            f"(OCR_MODEL=deepseek-community/DeepSeek-OCR-2, the default), or install the v1 stack into a separate "
            f"environment: pip install {V1_REQUIREMENTS}")
    if device.type != "cuda":
        raise RuntimeError(f"DeepSeek-OCR v1's remote code only runs on a CUDA GPU (its infer() calls .cuda()); "
                           f"the engine was asked to use {device}")


class RemoteCodeModel:
    """v1 loaded through `AutoModel(trust_remote_code=True)`, read through its own `infer()`."""

    generating = None  # infer() generates on its own: no progress to report

    def __init__(self, model: str, revision: str | None, device: torch.device, dtype: torch.dtype, attention: str,
                 repetition_guard_tokens: int):
        from transformers import AutoModel, AutoTokenizer

        self.repetition_guard_tokens = repetition_guard_tokens
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model, revision=revision, trust_remote_code=True)
            # transformers 4.46 names the dtype argument torch_dtype.
            self.model = AutoModel.from_pretrained(model, revision=revision, trust_remote_code=True,
                                                   torch_dtype=dtype, device_map={"": device},
                                                   attn_implementation=attention, use_safetensors=True).eval()
        except (ImportError, AttributeError, TypeError) as exc:
            raise RuntimeError(f"DeepSeek-OCR v1's remote code failed to load ({type(exc).__name__}: {exc}); "
                               f"it needs: pip install {V1_REQUIREMENTS}") from exc

    def read(self, image: Image.Image, prompt: str, mode: str, generation: Generation | None = None) -> PageText:
        """v1's infer() generates on its own, so nothing streams and max_tokens is not applied; a loop can only be
        found, and cut, afterwards."""
        text = self._infer(image, prompt, mode)
        ids = self.tokenizer.encode(text, add_special_tokens=False)
        finish_reason = "complete"
        loop = find_repetition(ids, self.repetition_guard_tokens)
        if loop is not None:
            finish_reason = "repetition"
            text = self.tokenizer.decode(ids[:loop.keep], skip_special_tokens=False)
        return PageText(text, finish_reason, {"prompt": None, "vision": None, "generated": len(ids)})

    def _infer(self, image: Image.Image, prompt: str, mode: str) -> str:
        """`infer()` wants a file and an output folder; both live in a temporary folder removed afterwards."""
        settings = V1_MODES[mode]
        with tempfile.TemporaryDirectory(prefix="deepseek-ocr-v1-") as folder:
            image_file = Path(folder) / "page.png"
            image.save(image_file)
            printed = io.StringIO()
            # infer() prints its progress and text to stdout; keep that out of the server's output.
            with contextlib.redirect_stdout(printed), torch.inference_mode():
                text = self.model.infer(self.tokenizer, prompt=prompt, image_file=str(image_file), output_path=folder,
                                        base_size=settings.base_size, image_size=settings.image_size,
                                        crop_mode=settings.crop_mode, save_results=False, eval_mode=True)
        return text or ""
