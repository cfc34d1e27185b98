"""OCR engines, chosen by name (`OCR_ENGINE`)."""
from __future__ import annotations

from deepseek_ocr_api.engines.base import Engine, OcrOutput

ENGINE_NAMES = ("embedded",)


def build_engine(config) -> Engine:
    """The engine the configuration asks for; nothing is loaded yet."""
    name = str(config["ENGINE"]).lower()
    if name == "embedded":
        from deepseek_ocr_api.engines.embedded import EmbeddedEngine

        return EmbeddedEngine(str(config["EMBEDDED_MODEL"]).lower())
    raise ValueError(f"OCR_ENGINE={name!r} is not an engine of this server; choose one of: {', '.join(ENGINE_NAMES)}")


__all__ = ["Engine", "OcrOutput", "build_engine", "ENGINE_NAMES"]
