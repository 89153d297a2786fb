"""Latency: median and p90 of repeated forward passes after warm-up.

The machine is shared and noisy, so models compared with each other are timed
in one process, interleaved run by run.
"""

from __future__ import annotations

import contextlib
import platform
import statistics
import time
from collections.abc import Iterator, Mapping

import torch
from torch import nn

from zoo.progress import bar


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@contextlib.contextmanager
def threads(count: int) -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


@torch.inference_mode()
def measure(models: Mapping[str, nn.Module], example: torch.Tensor, *, thread_count: int = 1,
            warmup: int = 10, runs: int = 50, engine: str | None = None) -> dict[str, dict]:
    """Time each model on ``example``; returns per model {p50_ms, p90_ms, batch_size, threads, engine, cpu}."""
    for model in models.values():
        model.eval()
    times: dict[str, list[float]] = {name: [] for name in models}
    with threads(thread_count):
        for model in models.values():
            for _ in range(warmup):
                model(example)
        with bar(range(runs), f"timing {' vs '.join(models)}") as steps:
            for _ in steps:
                for name, model in models.items():
                    start = time.perf_counter()
                    model(example)
                    times[name].append((time.perf_counter() - start) * 1000.0)
    cpu = cpu_name()
    return {
        name: {
            "p50_ms": round(statistics.median(samples), 3),
            "p90_ms": round(percentile(samples, 90), 3),
            "batch_size": example.shape[0],
            "threads": thread_count,
            "engine": engine or torch.backends.quantized.engine,
            "cpu": cpu,
            "runs": runs,
        }
        for name, samples in times.items()
    }
