"""Weights a plugin publishes under a short name, pulled as registry models: ``zoo pull resnet18-int8``.

The plugin's own loader fetches the weights (torchvision downloads them into
$TORCH_HOME/hub/checkpoints, or finds them there). They are loaded into the
int8 module tree the registry rebuilds for any model of that architecture and
preset, so the recorded model loads like every other one, without pickle.

The card carries the accuracy the weights' publisher gives (zoo has not
measured it and says so); size and latency are measured here, against the
float architecture run the same way.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import sys
import time
import warnings
from dataclasses import dataclass

from zoo.context import Context, default_context
from zoo.core.errors import IncompatibleError, PluginError
from zoo.core.specs import KnownWeights, ModelSpec
from zoo_registry import artifact
from zoo_registry.schema import Card
from zoo_registry.store import Entry, Registry

# torchvision's quantized weights are torch.ao eager-mode state dicts.
BACKEND = "eager"


@dataclass(frozen=True)
class Found:
    name: str
    spec: ModelSpec
    weights: KnownWeights
    plugin: str | None


def published(catalog) -> list[Found]:
    return [Found(w.published_as, spec, w, catalog.owner("model", spec.name))
            for spec in catalog.models.values() for w in spec.weights if w.published_as]


def find(name: str, catalog) -> Found | None:
    """The weights a loaded plugin publishes as ``name``, or None.

    Raises:
        PluginError: more than one plugin publishes ``name``.
    """
    matches = [f for f in published(catalog) if f.name == name]
    if len(matches) > 1:
        raise PluginError(f"'{name}' is published by more than one plugin ({', '.join(str(f.plugin) for f in matches)}); "
                       "load only one of them (ZOO_PLUGINS)")
    return matches[0] if matches else None


def _labels(catalog, dataset: str, num_classes: int) -> tuple[str, ...] | None:
    """The dataset's class names where they need no data on disk (ImageNet's come with torchvision)."""
    from zoo import data

    spec = catalog.datasets.get(dataset)
    if spec is None:
        return None
    try:
        return data.labels_of(spec, None, num_classes)
    except Exception:  # noqa: BLE001  a labels(root) that needs the data: the model is recorded without names
        return None


def _figures(found: Found, weights: KnownWeights | None) -> dict | None:
    return dict(weights.get_metrics().get(found.weights.dataset) or {}) if weights else None


def _already_recorded(registry: Registry, name: str, model_sha: str) -> tuple[Entry, Card] | None:
    """A version of ``name`` made from these very weights: pulling them again adds nothing."""
    for entry in registry.list(name=name):
        _, card, _ = registry.open(entry)
        if card.published and card.files[artifact.MODEL_FILE].sha256 == model_sha:
            return entry, card
    return None


def pull(found: Found, context: Context | None = None, latency_runs: int = 50):
    """Record the weights ``found`` names as registry model ``found.name`` in ``context``'s registry; returns a
    ``zoo.hub.client.Pulled``. Pulling the same weights again records nothing new.

    Raises:
        IntegrityError: the checkpoint's sha256 does not start with the prefix its file name carries.
        PluginError: the plugin gives no published accuracy for the weights.
        IncompatibleError: the weights do not fit the int8 module tree of their architecture and preset.
    """
    import functools

    import torch

    from zoo import runtimes
    from zoo.core.versions import versions
    from zoo.hub.client import Pulled
    from zoo.jobs.quantize import float_size_bytes
    from zoo.jobs.record import record
    from zoo.quantization import pipeline
    from zoo.runtimes.speed import card_fields, compare
    from zoo_registry import codec

    started = time.perf_counter()
    ctx = default_context(context)
    registry, catalog = ctx.registry, ctx.catalog
    spec, weights = found.spec, found.weights
    source = f"{weights.source} (plugin {found.plugin})"
    figures = _figures(found, weights)
    if not figures or "top1" not in figures or "top5" not in figures:
        raise PluginError(f"plugin '{found.plugin}' gives no {weights.dataset} accuracy for '{found.name}' "
                       f"({weights.source}); nothing to record")
    assert weights.preset is not None  # published_as requires quantized weights, which name their preset
    preset = catalog.preset(weights.preset)
    backend = catalog.backend(BACKEND)
    size = weights.image_size or spec.input_size
    # torch.hub announces a download on stdout, which must stay clean for --json.
    announce = sys.stderr if ctx.progress.shown else io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(announce):
        # torch.load of a quantized checkpoint warns about its own deprecations, which the user cannot act on.
        warnings.filterwarnings("ignore", message=".*(TypedStorage is deprecated|quantized tensor creation)")
        state = weights.load()
    from zoo.state_dicts import check_state_dict

    check_state_dict(state, f"weights '{weights.name}'", tensors_only=False)
    patterns = catalog.fusion_patterns.values()
    with backend.engine(preset.engine):
        try:
            if weights.stage == "prepared":
                model = pipeline.from_prepared_state(spec, preset, backend, weights.num_classes, size, patterns,
                                                     state, catalog)
            else:
                model = pipeline.skeleton(spec, preset, backend, weights.num_classes, size, patterns, catalog)
                model.load_state_dict(state)
        except RuntimeError as exc:
            raise IncompatibleError(f"{weights.source} do not fit {spec.name} quantized with preset {preset.name} "
                                    f"({str(exc).splitlines()[0]})") from None
    model.eval()
    model_bytes = codec.encode(backend.state_dict(model))
    existing = _already_recorded(registry, found.name, artifact.sha256(model_bytes))
    if existing is not None:
        return Pulled(existing[0], existing[1], source)

    with torch.random.fork_rng():
        torch.manual_seed(0)
        # Weights do not change how long a forward pass takes, so the float architecture as built stands in
        # for the float parent, which is not downloaded just to be timed.
        float_model = spec.build(weights.num_classes).eval()
    example = torch.randn(1, spec.in_channels, size, size, generator=torch.Generator().manual_seed(0))
    engine = functools.partial(backend.engine, preset.engine)
    speed, _ = compare(float_model, model, runtimes.Subject(BACKEND, preset.method, preset.engine), engine, example,
                       runtimes.QUICK, warmup=min(10, latency_runs), runs=latency_runs,
                       progress=ctx.progress)
    fastest = speed["fastest"]

    parent = spec.find_weights(weights.unquantized) if weights.unquantized else None
    parent_figures = _figures(found, parent) or {}
    result = {
        "arch": spec.name, "preset": preset.name, "engine": preset.engine, "method": preset.method, "backend": BACKEND,
        "dataset": {"name": weights.dataset, "split": "test", "images": figures.get("images"), "image_size": size,
                    "num_classes": weights.num_classes},
        "metrics": {"top1": figures["top1"], "top5": figures["top5"], "size_bytes": len(model_bytes),
                    "latency": {**speed["int8"][fastest["int8"]], "engine": preset.engine}},
        **card_fields(speed),
        **({"license": weights.license} if weights.license else {}),
        "published": {
            "plugin": found.plugin, "weights": weights.name, "source": weights.source, "recipe": weights.recipe,
            "figures": f"top-1/top-5 as published with {weights.source}, not measured by zoo; "
                       "size and latency measured by zoo",
        },
        "parent": {"name": parent.name if parent else weights.unquantized,
                   "source": parent.source if parent else "not known to the plugin",
                   "dataset": parent.dataset if parent else None, "recipe": parent.recipe if parent else ""},
        "command": f"zoo pull {found.name}",
        "versions": versions(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "wall_s": round(time.perf_counter() - started, 1),
    }
    if "top1" in parent_figures and "top5" in parent_figures:
        result["baseline"] = {"top1": parent_figures["top1"], "top5": parent_figures["top5"],
                              "size_bytes": float_size_bytes(float_model),
                              "latency": {**speed["float"][fastest["float"]], "engine": None}}
    entry = record(registry, name=found.name, kind="int8", state_dict=backend.state_dict(model), result=result,
                   catalog=catalog, spec=spec, preset=preset, backend=BACKEND, in_channels=spec.in_channels,
                   model=model, labels=_labels(catalog, weights.dataset, weights.num_classes))
    _, card, _ = registry.open(entry)
    return Pulled(entry, card, source)
