"""Re-evaluating and benchmarking a registry model, the way `zoo quantize` measured it."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from zoo.errors import IncompatibleError
from zoo_registry import artifact
from zoo_registry.loading import build
from zoo_registry.store import Entry, Registry


def _engine(config: dict):
    """The context the model of ``config`` runs in: its backend's engine setting (none for float models)."""
    from zoo.plugins import get_catalog
    from zoo_registry.config import backend_of

    backend = backend_of(config)
    return get_catalog().backend(backend).engine(config.get("engine")) if backend else contextlib.nullcontext()


def reevaluate(reference: str, *, data_dir: str | None = None, limit: int | None = None,
               registry: Registry | None = None) -> dict:
    """Top-1/top-5 on the card's dataset split, as many images as the card unless ``limit`` says otherwise."""
    from zoo import data
    from zoo.evaluate import accuracy
    from zoo.plugins import get_catalog

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
              registry: Registry | None = None) -> tuple[list[dict], Entry | None]:
    """Latency rows for every batch size × thread count; with ``record``, a new version carrying them."""
    import torch

    from zoo.latency import measure

    registry = registry or Registry()
    entry = registry.resolve(reference)
    config, card, model_bytes = registry.open(entry)
    model = build(config, model_bytes)
    size, channels = config["image_size"], config["in_channels"]
    rows = []
    generator = torch.Generator().manual_seed(0)
    with _engine(config):
        for batch_size in batch_sizes:
            example = torch.randn(batch_size, channels, size, size, generator=generator)
            for count in threads:
                timing = measure({entry.ref: model}, example, thread_count=count, runs=runs,
                                 engine=config.get("engine"))[entry.ref]
                rows.append(timing)
    if not record:
        return rows, None
    content = {k: v for k, v in card.items() if k not in artifact.DERIVED_CARD_FIELDS}
    files = artifact.render(model_bytes, config, {**content, "benchmarks": rows}, entry.name)
    return rows, registry.write(files)
