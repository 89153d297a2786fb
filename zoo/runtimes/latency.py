"""Latency: median and p90 of repeated forward passes after warm-up, and how busy the machine was meanwhile.

The machine is shared and noisy, so models compared with each other are timed
in one process, interleaved round by round, in a seeded random order each
round so that none always follows the same neighbour. Within a round each
timed call follows an untimed call of the same model: a model serving requests
runs with its weights in cache, and a small model timed right after a large
one would otherwise measure the other's cache misses (MobileNetV2 int8 at
32x32 in ONNX Runtime: 0.21 ms warm, 0.6-0.8 ms after other models). While
timing, zoo also reads how much
CPU time other processes took (``/proc/stat`` minus this process's own
``os.times()``): a figure measured while something else ran is flagged as such.
"""

from __future__ import annotations

import contextlib
import os
import platform
import random
import statistics
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import torch

from zoo.core.progress import QUIET, Progress

# Other processes using more than this many CPUs on average make a timing "busy".
BUSY_CPUS = 0.25


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


def _machine_busy_seconds() -> float | None:
    """CPU seconds every process on the machine has spent busy since boot, from /proc/stat; None off Linux."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    # user nice system idle iowait irq softirq steal ...: everything but idle and iowait is work.
    ticks = [int(value) for value in fields[1:9]]
    busy = sum(ticks) - ticks[3] - ticks[4]
    return busy / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    times = os.times()
    return times.user + times.system


@dataclass
class LoadMeter:
    """CPU that processes other than this one used between ``start`` and ``stop``, in CPUs on average."""

    started_wall: float = 0.0
    started_machine: float | None = None
    started_own: float = 0.0

    def start(self) -> LoadMeter:
        self.started_wall, self.started_machine, self.started_own = (time.monotonic(), _machine_busy_seconds(),
                                                                     _own_seconds())
        return self

    def stop(self) -> dict:
        """{other_cpus, cpus, busy, wall_s}; other_cpus is None where /proc/stat cannot be read."""
        wall = max(time.monotonic() - self.started_wall, 1e-9)
        machine = _machine_busy_seconds()
        cpus = os.cpu_count() or 1
        if machine is None or self.started_machine is None:
            return {"other_cpus": None, "cpus": cpus, "busy": None, "wall_s": round(wall, 2)}
        others = max(0.0, (machine - self.started_machine) - (_own_seconds() - self.started_own)) / wall
        return {"other_cpus": round(others, 3), "cpus": cpus, "busy": others > BUSY_CPUS, "wall_s": round(wall, 2),
                "busy_threshold_cpus": BUSY_CPUS}


@torch.inference_mode()
def measure(runners: Mapping[str, Callable], example: torch.Tensor, *, thread_count: int = 1, warmup: int = 10,
            runs: int = 50, progress: Progress = QUIET) -> tuple[dict[str, dict], dict]:
    """Time each runner on ``example``: ``runs`` rounds, each calling every runner twice in a row (untimed, then
    timed), the runners in a seeded random order per round.

    Returns per runner {p50_ms, p90_ms, batch_size, threads, cpu, runs} (milliseconds of wall time per call,
    median and 90th percentile over the ``runs`` timed calls, after ``warmup`` calls each), and the machine
    load during timing (``LoadMeter.stop``). torch's thread count is set to ``thread_count``; runtimes outside
    torch were given theirs when they were prepared.
    """
    times: dict[str, list[float]] = {name: [] for name in runners}
    order = random.Random(0)
    names = list(runners)
    with threads(thread_count):
        for runner in runners.values():
            for _ in range(warmup):
                runner(example)
        meter = LoadMeter().start()
        with progress.steps(range(runs), f"timing {len(runners)} runners side by side") as steps:
            for _ in steps:
                order.shuffle(names)
                for name in names:
                    runner = runners[name]
                    runner(example)
                    start = time.perf_counter()
                    runner(example)
                    times[name].append((time.perf_counter() - start) * 1000.0)
        load = meter.stop()
    cpu = cpu_name()
    stats = {
        name: {
            "p50_ms": round(statistics.median(samples), 3),
            "p90_ms": round(percentile(samples, 90), 3),
            "batch_size": example.shape[0],
            "threads": thread_count,
            "cpu": cpu,
            "runs": runs,
        }
        for name, samples in times.items()
    }
    return stats, load
