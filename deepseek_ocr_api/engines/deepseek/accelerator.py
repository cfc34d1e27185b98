"""Where a torch model runs: device and dtype choice, GPU memory figures, freeing caches."""
from __future__ import annotations

import gc
import re

import torch

from deepseek_ocr_api.engines.base import GPU_MEMORY_FIELDS

DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
CUDA_INDEX = re.compile(r"^cuda(:\d+)?$")


def pick_device(requested: str) -> torch.device:
    """`auto` takes cuda, then mps, then cpu; an explicit device that is not there is an error, not a fallback."""
    requested = requested.strip().lower()
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if CUDA_INDEX.match(requested):
        if not torch.cuda.is_available():
            raise RuntimeError(f"OCR_DEVICE={requested} but this torch build sees no CUDA GPU "
                               f"(torch {torch.__version__}); use OCR_DEVICE=auto or cpu, or install a CUDA build of torch")
        device = torch.device(requested if ":" in requested else "cuda:0")
        if device.index >= torch.cuda.device_count():
            raise RuntimeError(f"OCR_DEVICE={requested} but only {torch.cuda.device_count()} CUDA GPU(s) are visible")
        return device
    if requested == "mps":
        if not torch.backends.mps.is_available():
            raise RuntimeError("OCR_DEVICE=mps but Metal (MPS) is not available on this machine")
        return torch.device("mps")
    if requested == "cpu":
        return torch.device("cpu")
    raise ValueError(f"OCR_DEVICE must be auto, cuda, cuda:N, mps or cpu, not {requested!r}")


def pick_dtype(requested: str, device: torch.device) -> torch.dtype:
    """`auto`: bfloat16 where the device supports it, float16 on GPUs without it (pre-Ampere)."""
    requested = requested.strip().lower()
    if requested != "auto":
        if requested not in DTYPES:
            raise ValueError(f"OCR_DTYPE must be auto, {', '.join(DTYPES)}, not {requested!r}")
        return DTYPES[requested]
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return torch.bfloat16


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def gigabytes(count: int | float) -> str:
    """Bytes as the guide writes them: `12.00 GB`."""
    return f"{count / 2**30:.2f} GB"


def memory_bytes(device: torch.device | None) -> dict[str, int]:
    """GPU memory in bytes (total, allocated, reserved, free), those the device reports; empty on the CPU."""
    if device is None:
        return {}
    if device.type == "cuda":
        free, total = torch.cuda.mem_get_info(device)
        return {"total": total, "allocated": torch.cuda.memory_allocated(device),
                "reserved": torch.cuda.memory_reserved(device), "free": free}
    if device.type == "mps":
        return {"allocated": torch.mps.current_allocated_memory(), "reserved": torch.mps.driver_allocated_memory()}
    return {}


def memory_figures(device: torch.device | None) -> dict[str, str | None]:
    """The guide's GPU memory fields for `device`; all None on the CPU."""
    figures = dict.fromkeys(GPU_MEMORY_FIELDS)
    measured = memory_bytes(device)
    if measured:
        figures["gpu_name"] = torch.cuda.get_device_name(device) if device.type == "cuda" else "Apple GPU (MPS)"
        figures.update({f"gpu_memory_{name}": gigabytes(value) for name, value in measured.items()})
    return figures


def release_cached_memory(device: torch.device | None) -> None:
    """Give the allocator's cached blocks back, so other programs (and the next big page) can use them."""
    gc.collect()
    if device is None:
        return
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA's OutOfMemoryError, and MPS's plain RuntimeError that says the same thing."""
    return isinstance(exc, torch.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())
