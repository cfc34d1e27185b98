"""DeepSeek-OCR's resolution modes per model family: how a page is viewed and what it costs in vision tokens."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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

V2_FAMILY, V1_FAMILY = "DeepSeek-OCR-2 (transformers native)", "DeepSeek-OCR v1 (remote code)"
# Every mode name of either family: OCR_MODE is checked against these at start, against the family at load.
MODE_NAMES = tuple(dict.fromkeys([*V2_MODES, *V1_MODES]))


def mode_costs(modes: dict) -> dict[str, str]:
    """Mode name -> what it costs, as / lists them."""
    return {name: mode.description for name, mode in modes.items()}
