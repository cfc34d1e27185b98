"""Speed and memory of the DeepSeek engine on the full-size DeepSeek-OCR-2 architecture, with random weights.

Nothing is downloaded: the script builds a checkpoint with the real configuration (about 3.4 B parameters,
6.8 GB in bfloat16) once into --checkpoint, then loads it through the server's own engine (the same
from_pretrained path, dtype, device and quantization settings as OCR_* give) and measures per mode and page size:
  load     seconds to load, and peak memory right after loading
  ttft     time to first token (preprocessing, vision encoders, prefill), in seconds
  tok/s    decode speed over a fixed number of generated tokens (min_new_tokens forces the length)
  peak     peak memory of the request: CUDA max allocated on a GPU, process peak RSS on the CPU
and, with --concurrent N, N requests sent at once through the server's runtime: mean and worst latency and pages
per minute. With --batch N [M ...], N different pages read together in one batched generate (as OCR_BATCH_SIZE
reads them): time to first token, aggregate decode tokens/s (tokens of all pages per second of decoding), pages
per minute and peak memory, and each batch's decode speed against batch 1; --json writes these figures to a file.
Random weights read no text, so this measures cost, not quality.

    .venv/bin/python -m bench.deepseek_bench --tokens 8 --modes small base             # CPU, quick
    .venv/bin/python -m bench.deepseek_bench --quantization none 8bit 4bit --concurrent 4  # CUDA
    .venv/bin/python -m bench.deepseek_bench --modes small --pages 1024x1024 --tokens 32 --batch 1 2 4 8  # batching
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from deepseek_ocr_api.engines.base import PageRequest
from deepseek_ocr_api.engines.deepseek.accelerator import pick_device
from deepseek_ocr_api.engines.deepseek.engine import DeepSeekEngine
from deepseek_ocr_api.engines.deepseek.settings import DeepSeekSettings
from deepseek_ocr_api.runtime import OcrRuntime
from deepseek_ocr_api.settings import Settings
from deepseek_ocr_api.tasks import parse_prompt
from tests.tiny_deepseek import FULL, build_checkpoint

PAGE_SIZES = {"1024x1024": (1024, 1024), "A4@150dpi": (1240, 1754)}


def page(size, variant: int = 0) -> Image.Image:
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    for row in range(40, size[1] - 40, 28):
        draw.text((40 + variant, row), f"The quick brown fox jumps over the lazy dog 0123456789 {variant}", fill="black")
    return image


class PeakMemory:
    """Peak since `reset()`: CUDA max allocated on a GPU; on the CPU, resident memory sampled every 10 ms."""

    def __init__(self, device: torch.device):
        self.device = device
        self.peak = 0
        self._stop = threading.Event()
        if device.type != "cuda":
            threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        page = resource.getpagesize()
        while not self._stop.wait(0.01):
            with open("/proc/self/statm") as handle:
                self.peak = max(self.peak, int(handle.read().split()[1]) * page)

    def reset(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        self.peak = 0

    def gigabytes(self) -> float:
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device) / 2**30
        return self.peak / 2**30

    def stop(self) -> None:
        self._stop.set()


def load_engine(checkpoint: Path, args, quantization: str, max_new_tokens: int) -> DeepSeekEngine:
    settings = Settings.load({}, dict(MODEL=str(checkpoint), DEVICE=args.device, DTYPE=args.dtype,
                                      QUANTIZATION=quantization, MAX_NEW_TOKENS=max_new_tokens,
                                      REPETITION_GUARD_TOKENS=0, BATCH_SIZE=max(args.batch, default=0)))
    return DeepSeekEngine(DeepSeekSettings.from_settings(settings))


class TokenClock:
    """A generation streamer that only notes when each token arrives: TTFT and decode speed from one run."""

    def __init__(self):
        self.times: list[float] = []

    def put(self, value) -> None:  # first call: the prompt; then one call per generated token
        self.times.append(time.perf_counter())

    def end(self) -> None:
        pass


@contextmanager
def clocked(engine: DeepSeekEngine) -> Iterator[TokenClock]:
    """The engine's generate, with a TokenClock as its streamer."""
    clock, model = TokenClock(), engine._model.model
    generate = model.generate
    model.generate = lambda *args, **kwargs: generate(*args, **{**kwargs, "streamer": clock})
    try:
        yield clock
    finally:
        del model.generate  # back to the class's method


def timed_read(engine: DeepSeekEngine, image: Image.Image, mode: str):
    """(seconds to the first token, decode tokens/s, output) of one request through the engine."""
    with clocked(engine) as clock:
        started = time.perf_counter()
        output = engine.infer(image, parse_prompt("Free OCR."), mode)
    first, last = clock.times[1], clock.times[-1]
    decode = (len(clock.times) - 2) / (last - first) if len(clock.times) > 2 else float("nan")
    return first - started, decode, output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=Path("/tmp/deepseek-ocr2-random-full"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--quantization", nargs="+", default=["none"], choices=["none", "8bit", "4bit"])
    parser.add_argument("--modes", nargs="+", default=["small", "base", "gundam"])
    parser.add_argument("--pages", nargs="+", default=list(PAGE_SIZES), choices=list(PAGE_SIZES))
    parser.add_argument("--tokens", type=int, default=128, help="generated tokens per request (forced)")
    parser.add_argument("--concurrent", type=int, default=0, help="also send N requests at once per mode")
    parser.add_argument("--batch", type=int, nargs="+", default=[],
                        help="only read batches of these sizes (different pages, one generate each) per mode")
    parser.add_argument("--json", type=Path, help="with --batch: write the figures to this file")
    args = parser.parse_args()

    if not (args.checkpoint / "config.json").is_file():
        started = time.perf_counter()
        print(f"Building the full-size random checkpoint in {args.checkpoint} ...", flush=True)
        # In a child process, so the memory it takes does not count in this process's figures.
        builder = multiprocessing.get_context("spawn").Process(target=build_checkpoint,
                                                               args=(args.checkpoint, FULL, torch.bfloat16))
        builder.start()
        builder.join()
        if builder.exitcode:
            sys.exit(f"building the checkpoint failed (exit code {builder.exitcode})")
        print(f"  built in {time.perf_counter() - started:.0f} s", flush=True)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads"
          + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""))
    header = f"{'quant':<6} {'mode':<7} {'page':<10} {'vision':>6} {'ttft s':>7} {'tok/s':>7} {'peak GB':>8}"
    for quantization in args.quantization:
        engine = load_engine(args.checkpoint, args, quantization, args.tokens)
        runtime = OcrRuntime(engine=engine)
        peak = PeakMemory(pick_device(args.device))
        started = time.perf_counter()
        runtime._load()  # the server's loading path, in this thread
        if runtime.state != "ready":
            print(f"{quantization}: failed to load: {runtime.error}")
            continue
        params = sum(p.numel() for p in engine._model.model.parameters())
        print(f"\n{quantization}: loaded {params / 1e9:.2f} B parameters on {engine.device} as "
              f"{engine.describe()['dtype']} in {time.perf_counter() - started:.1f} s, "
              f"peak {peak.gigabytes():.2f} GB")
        model = engine._model
        if args.batch:
            figures = batch_runs(engine, peak, args)
            if args.json:
                args.json.write_text(json.dumps({
                    "device": str(engine.device), "gpu": torch.cuda.get_device_name() if engine.device.type == "cuda"
                    else None, "dtype": engine.describe()["dtype"], "quantization": quantization,
                    "tokens_per_page": args.tokens, "torch": torch.__version__, "runs": figures}, indent=2))
            peak.stop()
            continue
        print(header)
        for mode in args.modes:
            for page_name in args.pages:
                image = page(PAGE_SIZES[page_name])
                set_token_budget(engine, 2)
                timed_read(engine, image, mode)  # warm-up: kernels, allocator
                set_token_budget(engine, args.tokens)
                peak.reset()
                ttft, decode, output = timed_read(engine, image, mode)
                print(f"{quantization:<6} {mode:<7} {page_name:<10} {output.tokens['vision']:>6} {ttft:>7.2f} "
                      f"{decode:>7.1f} {peak.gigabytes():>8.2f}", flush=True)
            if args.concurrent:
                concurrent_run(runtime, page(PAGE_SIZES[args.pages[0]]), mode, args.concurrent, args.pages[0])
        peak.stop()
        engine.unload()
        del engine, runtime, model


def timed_batch(engine: DeepSeekEngine, images: list[Image.Image], mode: str):
    """(seconds to the first token, decode steps/s, outputs) of one batched generate through the engine."""
    task = parse_prompt("Free OCR.")
    with clocked(engine) as clock:
        started = time.perf_counter()
        outputs = engine.infer_batch([PageRequest(image, task, mode) for image in images])
    first, last = clock.times[1], clock.times[-1]
    steps = (len(clock.times) - 2) / (last - first) if len(clock.times) > 2 else float("nan")
    return first - started, steps, time.perf_counter() - started, outputs


def batch_runs(engine: DeepSeekEngine, peak: PeakMemory, args) -> list[dict]:
    """Each mode and page size at each --batch size: one batch of different pages, after one warm-up page."""
    print(f"{'mode':<7} {'page':<10} {'batch':>5} {'ttft s':>7} {'agg tok/s':>9} {'pages/min':>9} {'peak GB':>8} "
          f"{'vs batch 1':>10}")
    figures = []
    for mode in args.modes:
        for page_name in args.pages:
            single = None
            set_token_budget(engine, 2)
            timed_batch(engine, [page(PAGE_SIZES[page_name])], mode)  # warm-up: kernels, allocator
            set_token_budget(engine, args.tokens)
            for size in args.batch:
                images = [page(PAGE_SIZES[page_name], variant) for variant in range(size)]
                peak.reset()
                ttft, steps, wall, outputs = timed_batch(engine, images, mode)
                aggregate = steps * size
                single = aggregate if size == 1 else single
                ratio = aggregate / single if single else float("nan")
                figures.append({"mode": mode, "page": page_name, "batch": size, "ttft_s": round(ttft, 3),
                                "aggregate_decode_tokens_per_s": round(aggregate, 2),
                                "pages_per_min": round(size / wall * 60, 2), "peak_gb": round(peak.gigabytes(), 2),
                                "vision_tokens": outputs[0].tokens["vision"],
                                "decode_vs_batch_1": round(ratio, 2) if single else None})
                print(f"{mode:<7} {page_name:<10} {size:>5} {ttft:>7.2f} {aggregate:>9.1f} {size / wall * 60:>9.1f} "
                      f"{peak.gigabytes():>8.2f} {ratio:>9.2f}x", flush=True)
    return figures


def set_token_budget(engine: DeepSeekEngine, tokens: int) -> None:
    """Generate exactly `tokens` tokens from now on (random weights could emit the end token early)."""
    engine.settings = DeepSeekSettings(**{**engine.settings.__dict__, "max_new_tokens": tokens})
    engine._model.model.generation_config.min_new_tokens = tokens


def concurrent_run(runtime: OcrRuntime, image: Image.Image, mode: str, count: int, page_name: str) -> None:
    latencies = []

    def one():
        started = time.perf_counter()
        runtime.run(image, parse_prompt("Free OCR."), mode)
        latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    print(f"       {mode:<7} {page_name:<10} {count} at once: mean {statistics.mean(latencies):.2f} s, "
          f"worst {max(latencies):.2f} s, {count / wall * 60:.1f} pages/min", flush=True)


if __name__ == "__main__":
    main()
