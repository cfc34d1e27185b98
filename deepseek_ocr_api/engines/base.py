"""The engine interface every OCR backend implements, and the result it hands back."""
from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from deepseek_ocr_api.errors import InvalidInput, UnsupportedTask
from deepseek_ocr_api.tasks import TASK_PROMPTS, Task

# The guide's GPU memory fields of /health, formatted like "12.00 GB"; all None without a GPU.
GPU_MEMORY_FIELDS = ("gpu_name", "gpu_memory_total", "gpu_memory_allocated", "gpu_memory_reserved", "gpu_memory_free")


@dataclass
class Generation:
    """How one page's text is wanted: bounded, streamed as it is generated, or stopped. Engines that generate
    tokens (DeepSeek) honour all three; one that reads a page whole (embedded) leaves them to the caller."""

    max_new_tokens: int | None = None  # at most OCR_MAX_NEW_TOKENS; None: that
    on_text: Callable[[str], None] | None = None  # each piece of text, as soon as it is generated
    cancelled: threading.Event = field(default_factory=threading.Event)  # set it to stop the generation


@dataclass
class OcrOutput:
    """What an engine read from one image."""

    text: str  # markdown for the markdown task, else plain text
    mode: str  # the resolution mode the image was read at
    finish_reason: str = "complete"  # or "max_new_tokens", "repetition": the text was cut
    tokens: dict[str, int | None] = field(default_factory=lambda: dict.fromkeys(("prompt", "vision", "generated")))
    # Regions found on the page: {"type", "text", "box": [x0, y0, x1, y1] in pixels of the upright page, and
    # "confidence" (0-1) where the engine measures it}.
    blocks: list[dict[str, Any]] = field(default_factory=list)
    rotation: int = 0  # clockwise degrees (0, 90, 180, 270) the page was turned to make it upright before reading
    confidence: float | None = None  # 0-1, the lines' confidences weighted by their characters; None: not measured
    raw: str | None = None  # the model's own output, grounding tags and all, where it writes tags (DeepSeek)
    batch_size: int = 1  # how many pages were read together with this one, itself included


@dataclass(eq=False)
class PageRequest:
    """One page for an engine to read, as the runtime hands a batch of them to `Engine.infer_batch`."""

    image: Image.Image
    task: Task
    mode: str
    generation: Generation | None = None


class Engine(ABC):
    """An OCR model behind the service: loaded once per worker, then asked to read images one at a time."""

    name: str = "engine"
    supported_tasks: tuple[str, ...] = ()
    # Resolution mode name -> what it costs (listed on /), and the one a request that names none gets.
    resolution_modes: dict[str, str] = {}
    default_mode: str = ""
    reads_through_queue = False  # OCR_ENGINE=none: /ocr waits for a job the RQ workers read
    max_batch_size = 1  # pages `infer_batch` takes at once; engines that batch set it from OCR_BATCH_SIZE at load

    @abstractmethod
    def load(self) -> None:
        """Load the model; slow, runs off the request path. Raises on failure. An engine already loaded returns
        at once (an app handed a loaded engine, as the tests do, does not load it again)."""

    @abstractmethod
    def infer(self, image: Image.Image, task: Task, mode: str, generation: Generation | None = None) -> OcrOutput:
        """Read one RGB image for `task` at resolution `mode` (one of `resolution_modes`)."""

    def infer_batch(self, pages: list[PageRequest]) -> list[OcrOutput | Exception]:
        """Read up to `max_batch_size` pages of one resolution mode together: each page's output, or the error that
        page alone hit. Raising means the whole batch failed (the runtime then reads its pages one at a time)."""
        return [self.infer(page.image, page.task, page.mode, page.generation) for page in pages]

    @abstractmethod
    def unload(self) -> None:
        """Drop the model and whatever memory it holds (before a load is retried; between bench runs)."""

    @property
    def tokenizer_loaded(self) -> bool | None:
        """Whether the tokenizer is loaded, for /health; None for engines that have none."""
        return None

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """What `/`, `/health` and every response say about this engine: model, device, mode."""

    def check_task(self, task: Task) -> None:
        """UnsupportedTask (400) for a prompt this engine cannot honour: never a silently different answer."""
        if task.name in self.supported_tasks:
            return
        supported = "; ".join(f"{name}: {TASK_PROMPTS[name]!r}" for name in self.supported_tasks)
        raise UnsupportedTask(
            f"The {self.name} engine cannot honour the prompt {task.prompt!r} (task {task.name!r}). "
            f"It supports: {supported}",
            [f"Send one of the supported prompts / 请使用支持的提示词: {', '.join(repr(TASK_PROMPTS[n]) for n in self.supported_tasks)}"],
        )

    def resolve_mode(self, mode: str | None) -> str:
        """The resolution mode a request asked for (the default when it named none); a 400 for one this engine lacks."""
        if not mode:
            return self.default_mode
        mode = mode.strip().lower()
        if mode in self.resolution_modes:
            return mode
        raise InvalidInput(
            f"The {self.name} engine has no resolution mode {mode!r}; it supports: {', '.join(self.resolution_modes)}",
            [f"Send mode={name} ({cost}) / 使用 mode={name}" for name, cost in self.resolution_modes.items()],
            error="Unsupported mode / 不支持的分辨率模式",
        )

    def check(self) -> None:  # noqa: B027  (a hook: engines that read here have nothing to ask)
        """Ask whatever the engine depends on outside this process whether it answers (for /health only, so that
        answering a page never waits on it)."""

    def progress(self) -> dict[str, int] | None:
        """How far the request being read has got, for /health; None when idle or not measurable."""
        return None

    def gpu_memory(self) -> dict[str, str | None]:
        """GPU memory figures as the guide formats them; all None for engines without a GPU."""
        return dict.fromkeys(GPU_MEMORY_FIELDS)

    def gpu_memory_bytes(self) -> dict[str, int]:
        """The same figures in bytes (total, allocated, reserved, free), for /metrics; empty without a GPU."""
        return {}

    def out_of_memory(self, exc: BaseException) -> str | None:
        """Which memory `exc` says ran out ("RAM", or a GPU's such as "CUDA"); None for any other failure."""
        return "RAM" if isinstance(exc, MemoryError) else None

    def release_memory(self) -> None:  # noqa: B027  (a hook: engines without caches need nothing)
        """Free caches that are only needed during a request (GPU engines empty their allocator)."""
