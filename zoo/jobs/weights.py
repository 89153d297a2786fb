"""Choosing and loading the float weights a model starts from."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from zoo.core.errors import IncompatibleError, NoWeightsError, UnknownNameError, WeightsFileError
from zoo.core.licenses import HUB_LICENSES
from zoo.core.specs import HUB_REPO_ID, ModelSpec
from zoo.state_dicts import check_finite_weights, check_state_dict, state_dict_digest
from zoo_registry.store import Entry, Registry

RANDOM = "random"


@dataclass(frozen=True)
class WeightsChoice:
    name: str
    source: str
    dataset: str | None
    num_classes: int | None
    load: Callable[[], Mapping] | None
    image_size: int | None = None
    recipe: str = ""
    info: dict = field(default_factory=dict)
    # The weights' terms as a Hub licence identifier, and the Hub model repository they come from, where known.
    license: str | None = None
    hub_repo: str | None = None
    # How the weights expect images normalised on ``dataset``, where they say (KnownWeights.mean/std/crop_ratio).
    normalization: tuple[tuple[float, ...], tuple[float, ...], float | None] | None = None
    # The registry version the weights come from, where they do (what a sweep ships to workers without a registry).
    entry: Entry | None = None

    def describe(self) -> dict:
        """What a card records as its ``parent``."""
        known = {"license": self.license, "hub_repo": self.hub_repo}
        return {"name": self.name, "source": self.source, "dataset": self.dataset, "recipe": self.recipe,
                **{key: value for key, value in known.items() if value is not None}, **self.info}


def trained_name(arch: str, dataset: str) -> str:
    """The registry name ``zoo train`` records float weights under, where ``zoo quantize`` looks by default."""
    from zoo_registry.names import name_part

    return f"{name_part(arch)}-{dataset}"


def _from_registry(spec: ModelSpec, reference: str, registry: Registry, catalog) -> WeightsChoice | None:
    """Float weights recorded by ``zoo train``, or None when the registry has no such name."""
    from zoo_registry.loading import build
    from zoo_registry.names import BadReferenceError

    try:
        entry = registry.resolve(reference)
    except (UnknownNameError, BadReferenceError):
        return None
    if entry.kind != "float" or entry.arch != spec.name:
        raise IncompatibleError(f"registry model '{entry.ref}' is {entry.kind} {entry.arch}, not float {spec.name} "
                                "weights to start from")
    config, card, model_bytes = registry.open(entry)
    return WeightsChoice(
        name=entry.ref, source=f"zoo registry {entry.ref}",
        dataset=entry.dataset, num_classes=config.num_classes, image_size=config.image_size,
        load=lambda: build(config, model_bytes, catalog, entry.ref).state_dict(), recipe=card.command or "",
        license=card.license, entry=entry,
    )


# The card `zoo train --output` writes beside its weights is small; anything larger is not one.
MAX_SIDECAR_BYTES = 1 << 20


def _read_sidecar(card_path: Path) -> dict:
    """The fields zoo uses from the card beside a weights file, checked: {} when there is none.

    Raises:
        ZooError: the card is not JSON, or a field has the wrong type or an impossible value.
    """
    if not card_path.exists():
        return {}
    try:
        if card_path.stat().st_size > MAX_SIDECAR_BYTES:
            raise ValueError(f"larger than {MAX_SIDECAR_BYTES} bytes")
        card = json.loads(card_path.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:
        raise WeightsFileError(f"{card_path} (the card beside the weights) is not a readable JSON card: "
                       f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    dataset = card.get("dataset", {}) if isinstance(card, dict) else None
    if not isinstance(dataset, dict):
        raise WeightsFileError(f"{card_path}: 'dataset' must be an object with name, num_classes and image_size")
    checks = (("name", str, None), ("num_classes", int, 100_000), ("image_size", int, 4096))
    for key, kind, most in checks:
        value = dataset.get(key)
        if value is None:
            continue
        if not isinstance(value, kind) or isinstance(value, bool) or (
                most is not None and not 0 < cast(int, value) <= most):
            allowed = "a text" if kind is str else f"a whole number from 1 to {most}"
            raise WeightsFileError(f"{card_path}: dataset.{key} must be {allowed}, got {str(value)[:40]!r}")
    command = card.get("command", "")
    license = card.get("license")
    if license is not None and license not in HUB_LICENSES:
        raise WeightsFileError(f"{card_path}: license {str(license)[:40]!r} is not a Hugging Face Hub licence "
                               "identifier (e.g. apache-2.0, mit, bsd-3-clause, other)")
    hub_repo = card.get("hub_repo")
    if hub_repo is not None and (not isinstance(hub_repo, str) or not HUB_REPO_ID.match(hub_repo)):
        raise WeightsFileError(f"{card_path}: hub_repo {str(hub_repo)[:60]!r} is not a Hugging Face Hub repository id "
                               "(NAMESPACE/NAME)")
    return {"dataset": dataset, "command": command if isinstance(command, str) else "", "license": license,
            "hub_repo": hub_repo}


def _load_safetensors(path: Path) -> dict:
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        return load(path.read_bytes())
    except (SafetensorError, OSError, ValueError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise WeightsFileError(f"weights file {path} is not a valid .safetensors file ({detail})") from None


def _from_file(path: Path, name: str | None = None) -> WeightsChoice:
    card = _read_sidecar(path.with_suffix(".json"))
    dataset = card.get("dataset", {})
    return WeightsChoice(
        name=name or str(path),
        source=f"trained by zoo ({path})" if card else f"file {path}",
        dataset=dataset.get("name"),
        num_classes=dataset.get("num_classes"),
        image_size=dataset.get("image_size"),
        load=lambda: _load_safetensors(path),
        recipe=card.get("command", ""),
        license=card.get("license"),
        hub_repo=card.get("hub_repo"),
    )


def resolve(spec: ModelSpec, dataset: str, requested: str | None, registry: Registry | None = None,
            catalog=None) -> WeightsChoice:
    """``requested`` is a known weights name, a registry name, a .safetensors path, ``random``, or None.

    None picks the plugin's weights for ``dataset``, else what ``zoo train`` recorded for it in ``registry``
    (default: the one the environment names).
    """
    registry = registry if registry is not None else Registry()
    known = {w.name: w for w in spec.weights if not w.quantized}
    if requested == RANDOM:
        return WeightsChoice(RANDOM, "random initialisation (seeded)", None, None, None)
    if requested is None:
        matching = [w for w in known.values() if w.dataset == dataset]
        if matching:
            requested = matching[0].name
        elif (trained := _from_registry(spec, trained_name(spec.name, dataset), registry, catalog)) is not None:
            return trained
        else:
            model_file = catalog.model_files.get(spec.name) if catalog is not None else None
            arch = f"PATH/{model_file['name']}:{model_file['function']}" if model_file else spec.name
            raise NoWeightsError(
                f"no float weights for '{spec.name}' on '{dataset}': train them with "
                f"`zoo train {arch} --dataset {dataset}`, or pass --weights "
                f"({', '.join([*known, RANDOM, 'PATH.safetensors'])})"
            )
    if requested in known:
        w = known[requested]
        recipe = w.recipe
        return WeightsChoice(w.name, w.source, w.dataset, w.num_classes, w.load, w.image_size, recipe,
                             license=w.license, hub_repo=w.hub_repo,
                             normalization=(w.mean, w.std, w.crop_ratio) if w.mean and w.std else None)
    quantized = [w.name for w in spec.weights if w.quantized]
    if requested in quantized:
        raise IncompatibleError(
            f"weights '{requested}' of '{spec.name}' are already quantized; quantize from float weights "
            f"({', '.join(known)}) or load them from the registry"
        )
    path = Path(requested).expanduser()
    if path.suffix == ".safetensors" or path.exists():
        if not path.is_file():
            raise WeightsFileError(f"weights file {path} is a directory" if path.is_dir() else
                           f"weights file {path} does not exist")
        if path.suffix != ".safetensors":
            raise WeightsFileError(f"weights file {path} is not a .safetensors file; zoo never unpickles .pth/.pt files")
        return _from_file(path)
    if (registered := _from_registry(spec, requested, registry, catalog)) is not None:
        return registered
    raise UnknownNameError(f"weights for '{spec.name}'", requested, [*known, RANDOM])


def load_into(model, choice: WeightsChoice, num_classes: int, *, allow_new_head: bool = False) -> str | None:
    """Load ``choice`` into ``model``; returns the weights' digest (None for random weights).

    With ``allow_new_head`` (fine-tuning), tensors whose shape disagrees with the
    model (the classifier of another class count) are left freshly initialised.
    """
    if choice.load is None:
        return None
    if choice.num_classes is not None and choice.num_classes != num_classes and not allow_new_head:
        raise IncompatibleError(
            f"weights '{choice.name}' classify {choice.num_classes} classes but the dataset has {num_classes}; "
            "fine-tune them first with `zoo train ... --weights " + choice.name + "`"
        )
    state = choice.load()
    check_state_dict(state, f"weights '{choice.name}'", tensors_only=True)
    check_finite_weights(state, f"weights '{choice.name}'")
    digest = state_dict_digest(state)
    own = model.state_dict()
    if allow_new_head:
        state = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    else:
        mismatched = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
        if mismatched:
            raise IncompatibleError(
                f"weights '{choice.name}' do not fit this model for {num_classes} classes: {mismatched[0]} has shape "
                f"{tuple(state[mismatched[0]].shape)}, the model expects {tuple(own[mismatched[0]].shape)}"
            )
    unexpected = [k for k in state if k not in own]
    if unexpected:
        raise IncompatibleError(f"weights '{choice.name}' hold {len(unexpected)} tensor(s) this model lacks: "
                                f"{unexpected[:3]}")
    missing = [k for k in own if k not in state]
    if missing and not allow_new_head:
        raise IncompatibleError(f"weights '{choice.name}' lack {len(missing)} of this model's {len(own)} tensors, "
                                f"e.g. {missing[:3]}")
    model.load_state_dict(state, strict=not allow_new_head)
    return digest
