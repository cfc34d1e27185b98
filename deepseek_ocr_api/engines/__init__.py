"""OCR engines, chosen by name (`OCR_ENGINE`)."""
from __future__ import annotations

import logging
from pathlib import Path

from deepseek_ocr_api.engines.base import Engine, OcrOutput

log = logging.getLogger(__name__)

# none: no model here, RQ workers read (OCR_JOB_QUEUE); openai: a remote OpenAI-compatible model server reads
ENGINE_NAMES = ("embedded", "deepseek", "auto", "none", "openai")


def build_engine(settings) -> tuple[Engine, str]:
    """The engine the settings ask for, and why it was chosen; nothing is loaded yet."""
    name, reason = settings.engine, f"OCR_ENGINE={settings.engine}"
    if name == "auto":
        name, reason = choose_automatically(settings)
        log.info("OCR_ENGINE=auto chose the %s engine: %s", name, reason)
    if name == "none":
        from deepseek_ocr_api.engines.queue_only import QueueOnlyEngine

        return QueueOnlyEngine(), reason
    if name == "openai":
        from deepseek_ocr_api.engines.remote import OpenAIEngine, RemoteSettings

        return OpenAIEngine(RemoteSettings.from_settings(settings)), reason
    if name == "embedded":
        from deepseek_ocr_api.engines.embedded import EmbeddedEngine

        return EmbeddedEngine(settings.embedded_model, settings.engine_threads), reason
    try:
        from deepseek_ocr_api.engines.deepseek.engine import DeepSeekEngine
        from deepseek_ocr_api.engines.deepseek.settings import DeepSeekSettings
    except ImportError as exc:
        raise RuntimeError(f"OCR_ENGINE=deepseek needs torch and transformers ({exc}); install them with "
                           "`make install-deepseek` (or pip install -e '.[deepseek]')") from exc
    return DeepSeekEngine(DeepSeekSettings.from_settings(settings)), reason


def model_available_locally(model: str, revision: str | None) -> bool:
    """A checkpoint folder on disk, or a hub id already in the Hugging Face cache: no download needed."""
    if Path(model).is_dir():
        return (Path(model) / "config.json").is_file()
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(model, "config.json", revision=revision), str)


def choose_automatically(settings) -> tuple[str, str]:
    """deepseek when a GPU is present and the model is on disk, else embedded; with the reason either way."""
    try:
        import torch
        import transformers  # noqa: F401  (only whether it is installed matters here)
    except ImportError:
        return "embedded", "OCR_ENGINE=auto: torch/transformers are not installed"
    if torch.cuda.is_available():
        accelerator = f"CUDA GPU {torch.cuda.get_device_name()}"
    elif torch.backends.mps.is_available():
        accelerator = "Apple GPU (MPS)"
    else:
        return "embedded", "OCR_ENGINE=auto: no GPU (CUDA or MPS) is visible"
    if not model_available_locally(settings.model, settings.model_revision or None):
        return "embedded", (f"OCR_ENGINE=auto: {accelerator} found, but {settings.model} is not on this disk "
                            "(download it once, see the README)")
    return "deepseek", f"OCR_ENGINE=auto: {accelerator} found and {settings.model} is on this disk"


__all__ = ["Engine", "OcrOutput", "build_engine", "ENGINE_NAMES"]
