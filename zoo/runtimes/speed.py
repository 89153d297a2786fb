"""How fast a float model and its int8 model run, each in every runtime that can run it, timed side by side.

The float model's best runtime is the baseline a speed-up is quoted against,
not eager PyTorch: quoting int8 against eager float flatters it (MobileNetV2
float at 32x32, batch 1, one thread, in tests/benchmarks/runtimes.py on the
development machine: 4.84 ms eager, 0.44 ms in ONNX Runtime).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from zoo import runtimes
from zoo.core.progress import QUIET, Progress
from zoo.runtimes import Subject
from zoo.runtimes.latency import measure


def compare(float_model, int8_model, subject: Subject, engine: Callable, example, names, *, threads: int = 1,
            warmup: int = 10, runs: int = 50, progress: Progress = QUIET) -> tuple[dict, dict[str, dict[str, Callable]]]:
    """Time ``float_model`` and ``int8_model`` (of ``subject``) in the runtimes ``names`` that can run them.

    ``engine()`` is the int8 backend's engine context. Returns {float: {runtime: latency}, int8: {...},
    skipped: {float: {runtime: why}, int8: {...}}, fastest: {float: name, int8: name}, speedup, load}, where
    each latency is ``zoo.runtimes.latency.measure``'s, speedup is the fastest float p50 over the fastest int8 p50
    (below 1: int8 is slower), and load is the machine's load while timing; and the prepared runners, by side
    and runtime.
    """
    sides = {}
    skipped = {}
    for side, model, who, context in (("float", float_model, Subject(), contextlib.nullcontext),
                                      ("int8", int8_model, subject, engine)):
        if model is None:
            continue
        sides[side], skipped[side] = runtimes.ready(model, who, names, example, threads, context,
                                                             progress)
        if not sides[side]:
            from zoo.core.errors import IncompatibleError

            raise IncompatibleError(f"no runtime could run the {who.describe()} model: "
                                    + "; ".join(f"{name}: {why}" for name, why in skipped[side].items()))
    runners = {f"{side} {name}": runner for side, ready in sides.items() for name, runner in ready.items()}
    with engine():
        stats, load = measure(runners, example, thread_count=threads, warmup=warmup, runs=runs,
                              progress=progress)
    measured = {side: {name: {**stats[f"{side} {name}"], "runtime": name} for name in ready}
                for side, ready in sides.items()}
    fastest = {side: min(by_name, key=lambda n: by_name[n]["p50_ms"]) for side, by_name in measured.items() if by_name}
    result = {**measured, "skipped": skipped, "fastest": fastest, "load": load}
    if "float" in fastest and "int8" in fastest:
        result["speedup"] = round(measured["float"][fastest["float"]]["p50_ms"]
                                  / measured["int8"][fastest["int8"]]["p50_ms"], 3)
    return result, sides


def card_fields(speed: dict) -> dict:
    """What a card keeps of ``compare``'s result besides the two headline latencies: every runtime's p50 and p90
    per side, what was skipped and why, the fastest of each side, the speed-up, and the machine's load."""
    table = {side: {name: {k: timing[k] for k in ("p50_ms", "p90_ms")} for name, timing in speed[side].items()}
             for side in ("float", "int8") if side in speed}
    return {"runtimes": {**table, "skipped": speed["skipped"], "fastest": speed["fastest"]},
            "speedup": speed.get("speedup"), "load": speed["load"]}
