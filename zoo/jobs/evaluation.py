"""Re-evaluating and benchmarking a registry model, the way `zoo quantize` measured it."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Sequence

from zoo.context import Context, default_context
from zoo.core.errors import IncompatibleError
from zoo_registry import artifact
from zoo_registry.loading import build
from zoo_registry.schema import Config
from zoo_registry.store import Entry


def _engine(config: Config, catalog):
    """The context the model of ``config`` runs in: its backend's engine setting (none for float models)."""
    backend = config.backend_name
    return catalog.backend(backend).engine(config.engine) if backend else contextlib.nullcontext()


def reevaluate(reference: str, *, data_dir: str | None = None, limit: int | None = None,
               context: Context | None = None) -> dict:
    """Top-1/top-5 (percent) of registry model ``reference`` on its card's dataset split, as many images as the
    card says unless ``limit`` does, beside the card's own figures.

    Returns:
        {name, version, dataset, images, card_images, comparable (the same number of images as the card),
        measured: {top1, top5, ties}, card: {top1, top5}, matches, rule_changed}.

    Raises:
        UnknownNameError, AmbiguousReferenceError: ``reference`` names no version, or several.
        IncompatibleError: the dataset found has another class count than the model.
    """
    from zoo import data
    from zoo.evaluation import TOP_K_RULE, accuracy

    ctx = default_context(context)
    registry, catalog = ctx.registry, ctx.catalog
    entry = registry.resolve(reference)
    config, card, model_bytes = registry.open(entry)
    dataset_spec = catalog.dataset(card.dataset.name)
    data_config = data.resolve(dataset_spec, data_dir, config.image_size, config.in_channels, ctx.datasets_dir)
    if config.preprocessing is not None:
        # As the model was fed when it was measured (the weights' own normalisation, where they had one).
        recorded = config.preprocessing
        data_config = dataclasses.replace(data_config, normalization=(
            tuple(recorded.mean), tuple(recorded.std), recorded.crop_ratio))
    if data_config.num_classes != config.num_classes:
        raise IncompatibleError(f"{entry.ref} classifies {config.num_classes} classes but dataset "
                                f"'{dataset_spec.name}' at {data_config.root} has {data_config.num_classes}")
    images = limit or card.dataset.images
    test_set = data.first(data.load_split(dataset_spec, data_config, card.dataset.split), images)
    model = build(config, model_bytes, catalog, entry.ref)
    with _engine(config, catalog):
        measured = accuracy(model, data.loader(test_set, 256), f"evaluating {entry.ref}", progress=ctx.progress)
    expected = {"top1": card.metrics.top1, "top5": card.metrics.top5}
    same_images = measured["images"] == card.dataset.images
    return {
        "card_images": card.dataset.images, "comparable": same_images,
        "name": entry.name, "version": entry.version, "dataset": dataset_spec.name, "images": measured["images"],
        "measured": {k: measured[k] for k in ("top1", "top5", "ties")}, "card": expected,
        "matches": same_images and all(measured[k] == expected[k] for k in expected),
        # Cards made before the rule was recorded took the first of tied classes (argmax).
        "rule_changed": card.top_k_rule != TOP_K_RULE,
    }


def benchmark(reference: str, batch_sizes: Sequence[int], threads: Sequence[int], runs: int, record: bool,
              context: Context | None = None,
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

    ctx = default_context(context)
    registry, catalog = ctx.registry, ctx.catalog
    entry = registry.resolve(reference)
    config, card, model_bytes = registry.open(entry)
    model = build(config, model_bytes, catalog, entry.ref)
    size, channels = config.image_size, config.in_channels
    backend_name = config.backend_name
    if backend_name and config.preset is not None:
        backend = catalog.backend(backend_name)
        engine = functools.partial(backend.engine, config.engine)
        subject = runtimes.Subject(backend_name, config.preset.method, config.engine)
    else:
        engine, subject = contextlib.nullcontext, runtimes.Subject()  # type: ignore[assignment]
    runtimes.require(runtime_names or runtimes.NAMES, subject)
    rows = []
    generator = torch.Generator().manual_seed(0)
    for batch_size in batch_sizes:
        example = torch.randn(batch_size, channels, size, size, generator=generator)
        for count in threads:
            runners, skipped = runtimes.ready(model, subject, runtime_names or runtimes.NAMES, example, count, engine,
                                               ctx.progress)
            if not runners:
                raise IncompatibleError(f"no runtime could run {entry.ref} at batch {batch_size}: "
                                        + "; ".join(f"{name}: {why}" for name, why in skipped.items()))
            with engine():
                stats, load = measure(runners, example, thread_count=count, runs=runs, progress=ctx.progress)
            fastest = min(stats, key=lambda name: stats[name]["p50_ms"])
            for name, timing in stats.items():
                rows.append({**timing, "runtime": name, "fastest": name == fastest, "engine": config.engine,
                             "load": load})
            for name, why in skipped.items():
                rows.append({"batch_size": batch_size, "threads": count, "runtime": name, "skipped": why})
    if not record:
        return rows, None
    files = artifact.render(model_bytes, config, {**card.content(), "benchmarks": rows}, entry.name)
    return rows, registry.write(files)
