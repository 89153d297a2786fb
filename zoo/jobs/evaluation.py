"""Re-evaluating and benchmarking a registry model, the way `zoo quantize` measured it."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from zoo.core.errors import IncompatibleError
from zoo_registry import artifact
from zoo_registry.loading import build
from zoo_registry.store import Entry, Registry


def _engine(config: dict):
    """The context the model of ``config`` runs in: its backend's engine setting (none for float models)."""
    from zoo.host.plugins import get_catalog
    from zoo_registry.config import backend_of

    backend = backend_of(config)
    return get_catalog().backend(backend).engine(config.get("engine")) if backend else contextlib.nullcontext()


def reevaluate(reference: str, *, data_dir: str | None = None, limit: int | None = None,
               registry: Registry | None = None) -> dict:
    """Top-1/top-5 on the card's dataset split, as many images as the card unless ``limit`` says otherwise."""
    from zoo import data
    from zoo.evaluation import accuracy
    from zoo.host.plugins import get_catalog

    registry = registry or Registry()
    entry = registry.resolve(reference)
    config, card, model_bytes = registry.open(entry)
    dataset_spec = get_catalog().dataset(card["dataset"]["name"])
    data_config = data.resolve(dataset_spec, data_dir, config["image_size"], config["in_channels"])
    if data_config.num_classes != config["num_classes"]:
        raise IncompatibleError(f"{entry.ref} classifies {config['num_classes']} classes but dataset "
                                f"'{dataset_spec.name}' at {data_config.root} has {data_config.num_classes}")
    images = limit or card["dataset"]["images"]
    test_set = data.first(data.load_split(dataset_spec, data_config, card["dataset"]["split"]), images)
    model = build(config, model_bytes)
    with _engine(config):
        measured = accuracy(model, data.loader(test_set, 256), f"evaluating {entry.ref}")
    expected = {k: card["metrics"][k] for k in ("top1", "top5")}
    same_images = measured["images"] == card["dataset"]["images"]
    return {
        "name": entry.name, "version": entry.version, "dataset": dataset_spec.name, "images": measured["images"],
        "measured": {k: measured[k] for k in ("top1", "top5")}, "card": expected,
        "matches": same_images and all(measured[k] == expected[k] for k in expected),
    }


def benchmark(reference: str, batch_sizes: Sequence[int], threads: Sequence[int], runs: int, record: bool,
              registry: Registry | None = None,
              runtime_names: Sequence[str] | None = None) -> tuple[list[dict], Entry | None]:
    """Latency of a registry model in every runtime that can run it, for every batch size × thread count.

    The runtimes of one configuration are timed interleaved in one loop. Returns one row per configuration and
    runtime: {batch_size, threads, runtime, p50_ms, p90_ms, fastest, engine, cpu, runs, load} (load: the machine's
    load during that configuration's timing); with ``record``, also a new version whose card carries the rows.
    """
    import functools

    import torch

    from zoo import runtimes
    from zoo.runtimes.latency import measure
    from zoo.host.plugins import get_catalog
    from zoo_registry.config import backend_of

    registry = registry or Registry()
    entry = registry.resolve(reference)
    config, card, model_bytes = registry.open(entry)
    model = build(config, model_bytes)
    size, channels = config["image_size"], config["in_channels"]
    backend_name = backend_of(config)
    if backend_name:
        backend = get_catalog().backend(backend_name)
        engine = functools.partial(backend.engine, config.get("engine"))
        subject = runtimes.Subject(backend_name, config["preset"]["method"], config.get("engine"))
    else:
        engine, subject = contextlib.nullcontext, runtimes.Subject()
    runtimes.require(runtime_names or runtimes.NAMES, subject)
    rows = []
    generator = torch.Generator().manual_seed(0)
    for batch_size in batch_sizes:
        example = torch.randn(batch_size, channels, size, size, generator=generator)
        for count in threads:
            runners, skipped = runtimes.ready(model, subject, runtime_names or runtimes.NAMES, example, count, engine)
            if not runners:
                raise IncompatibleError(f"no runtime could run {entry.ref} at batch {batch_size}: "
                                        + "; ".join(f"{name}: {why}" for name, why in skipped.items()))
            with engine():
                stats, load = measure(runners, example, thread_count=count, runs=runs)
            fastest = min(stats, key=lambda name: stats[name]["p50_ms"])
            for name, timing in stats.items():
                rows.append({**timing, "runtime": name, "fastest": name == fastest, "engine": config.get("engine"),
                             "load": load})
            for name, why in skipped.items():
                rows.append({"batch_size": batch_size, "threads": count, "runtime": name, "skipped": why})
    if not record:
        return rows, None
    content = {k: v for k, v in card.items() if k not in artifact.DERIVED_CARD_FIELDS}
    files = artifact.render(model_bytes, config, {**content, "benchmarks": rows}, entry.name)
    return rows, registry.write(files)
