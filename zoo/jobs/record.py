"""Recording what `zoo quantize` and `zoo train` produced as registry versions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo import data
from zoo.core import licenses
from zoo.core.licenses import package_license
from zoo_registry import artifact, names
from zoo_registry.config import make_config
from zoo_registry.schema import CARD_VERSION, Card, Config
from zoo_registry.store import Entry, Registry


@dataclass(frozen=True)
class Recorded:
    """What a job recorded: the registry entry, the card as the registry holds it, and, for ``zoo train
    --output``, the standalone weights file also written."""

    entry: Entry
    card: Card
    path: Path | None = None


def plugin_info(catalog, arch: str) -> dict[str, Any]:
    plugin = catalog.owner("model", arch)
    report = catalog.reports.get(plugin or "")
    return {"name": plugin, "package": report.package if report else None, "version": report.version if report else None}


def record(registry: Registry, **fields: Any) -> Entry:
    """Write one version into ``registry``: the files ``render`` makes of ``fields`` (its keyword arguments).

    Raises:
        ZooError: as ``render``; StorageError: the registry cannot be written. Nothing is half-written.
    """
    return registry.write(render(**fields))


def render(*, name: str, kind: str, state_dict: Mapping, result: Mapping[str, Any], catalog,
           spec, preset=None, backend: str | None = None, in_channels: int, model=None,
           labels: Sequence[str] | None = None, data_config: data.DataConfig | None = None) -> dict[str, bytes]:
    """The files of one version (file name to bytes): the state dict through the codec, its config, its card and
    model card. This is the one place a card is built: ``result`` (the job's figures and provenance) completed
    with what the catalog knows, then checked against ``zoo_registry.schema.Card``. Needs no registry: a sweep's
    worker renders, and its driver alone writes.

    Given the int8 ``model`` itself, first check that it reloads bit-identically.

    Raises:
        BadReferenceError: ``name`` is not a valid registry name.
        CodecError: the model would not reload as it was made.
        IntegrityError: the card breaks its schema (a bug in the job that made it).
    """
    from zoo_registry import codec
    names.check_name(name)
    plugin = plugin_info(catalog, spec.name)
    dataset = catalog.datasets.get(result["dataset"]["name"])
    image_size = result["dataset"]["image_size"]
    if dataset is not None and labels is None and not callable(dataset.labels):
        labels = data.labels_of(dataset, None, result["dataset"]["num_classes"])
    model_file = catalog.model_files.get(spec.name)
    config = make_config(kind=kind, arch=spec.name, plugin=plugin, num_classes=result["dataset"]["num_classes"],
                         image_size=image_size, in_channels=in_channels, preset=preset,
                         backend=backend, versions=result["versions"],
                         preprocessing=data.preprocessing(dataset, image_size, in_channels,
                                                          data_config.normalization if data_config else None)
                         if dataset else None,
                         labels=labels, model_file=model_file)
    card = {"card_version": CARD_VERSION, "kind": kind, **result, "plugin": plugin,
            **({"model_file": model_file} if model_file else {}),
            # The weights' terms where they are known, else those of the plugin that defines the architecture.
            "license": result.get("license") or (result.get("parent") or {}).get("license")
            or package_license(plugin["package"]) or licenses.UNKNOWN}
    hub_id = _dataset_hub_id(catalog, result["dataset"]["name"])
    if hub_id:
        card["dataset"] = {**result["dataset"], "hub_id": hub_id}
    model_bytes = codec.encode(state_dict)
    if model is not None:
        check_reloads(model, model_bytes, config, catalog)
    return artifact.render(model_bytes, config, card, name)


def _dataset_hub_id(catalog, name: str) -> str | None:
    spec = catalog.datasets.get(name)
    return spec.hub_id if spec is not None else None


def check_reloads(model, model_bytes: bytes, config: Config, catalog) -> None:
    """Refuse to record a model that would not come back as it was made.

    A plugin's model can keep weights outside its state dict (an FX graph of
    functional calls does); then its rebuilt twin would differ, and only
    running both tells.
    """
    import torch

    from zoo.core.errors import CodecError
    from zoo_registry.loading import build

    rebuilt = build(config, model_bytes, catalog)
    size, channels = config.image_size, config.in_channels
    example = torch.randn(2, channels, size, size, generator=torch.Generator().manual_seed(0))
    with catalog.backend(config.backend_name).engine(config.engine), torch.inference_mode():
        same = torch.equal(model(example), rebuilt(example))
    if not same:
        raise CodecError(f"the {config.arch} model would not reload as it was made (it keeps values outside its "
                         "state dict); nothing was recorded")


def record_quantized(registry: Registry, produced, name: str | None = None) -> Entry:
    """Record a ``zoo.jobs.quantize.Quantized``; the default name is ARCH-int8."""
    return registry.write(render_quantized(produced, name))


def render_quantized(produced, name: str | None = None) -> dict[str, bytes]:
    """The files of a ``zoo.jobs.quantize.Quantized`` as ``render`` makes them; the default name is ARCH-int8."""
    selection = produced.selection
    backend = selection.catalog.backend(produced.backend)
    return render(name=name or names.default_name(selection.spec.name, "int8"), kind="int8",
                  state_dict=backend.state_dict(produced.model), result=produced.result, catalog=selection.catalog,
                  spec=selection.spec, preset=produced.preset, backend=produced.backend,
                  in_channels=selection.spec.in_channels, model=produced.model, labels=selection.data.labels,
                  data_config=selection.data)
