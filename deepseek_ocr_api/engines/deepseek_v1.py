"""DeepSeek-OCR v1 (`deepseek-ai/DeepSeek-OCR`): the hub's remote code and its `infer()`, only when opted in."""
from __future__ import annotations

import contextlib
import io
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

# The versions DeepSeek's own README pins for this remote code.
V1_REQUIREMENTS = "transformers==4.46.3 tokenizers==0.20.3 einops addict easydict"


@dataclass(frozen=True)
class V1Mode:
    base_size: int
    image_size: int
    crop_mode: bool
    description: str


# Vision tokens per the DeepSeek-OCR paper: (size / 16 / 4)^2 per view; gundam adds 100 per 640 tile.
V1_MODES = {
    "tiny": V1Mode(512, 512, False, "512x512, no tiles: 64 vision tokens"),
    "small": V1Mode(640, 640, False, "640x640, no tiles: 100 vision tokens"),
    "base": V1Mode(1024, 1024, False, "1024x1024, no tiles: 256 vision tokens"),
    "large": V1Mode(1280, 1280, False, "1280x1280, no tiles: 400 vision tokens"),
    "gundam": V1Mode(1024, 640, True, "1024 global view plus 640 tiles: 256 + 100 per tile vision tokens"),
}


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

    def __init__(self, model: str, revision: str | None, device: torch.device, dtype: torch.dtype, attention: str):
        from transformers import AutoModel, AutoTokenizer

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model, revision=revision, trust_remote_code=True)
            # transformers 4.46 names the dtype argument torch_dtype.
            self.model = AutoModel.from_pretrained(model, revision=revision, trust_remote_code=True,
                                                   torch_dtype=dtype, device_map={"": device},
                                                   attn_implementation=attention, use_safetensors=True).eval()
        except (ImportError, AttributeError, TypeError) as exc:
            raise RuntimeError(f"DeepSeek-OCR v1's remote code failed to load ({type(exc).__name__}: {exc}); "
                               f"it needs: pip install {V1_REQUIREMENTS}") from exc

    def read(self, image: Image.Image, prompt: str, mode: str) -> str:
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
