"""Turning an artifact back into an nn.Module: rebuilt through its plugin, weights decoded, nothing unpickled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.core.errors import IncompatibleError, MissingPluginError
from zoo.host import model_files
from zoo.host.plugins import Catalog, get_catalog
from zoo_registry import artifact
from zoo_registry.schema import Card, Config


def find_spec(config: Config, catalog: Catalog, label: str = "config.json"):
    """The installed ModelSpec of ``config``'s architecture; MissingPluginError naming the package otherwise.

    An architecture from the user's own Python file is found only when the user gave that very file (same
    sha256): IntegrityError otherwise (``zoo.host.model_files.check_recorded``).
    """
    arch = config.arch
    model_files.check_recorded(arch, config.model_file.to_dict() if config.model_file else None, label,
                               catalog.model_files)
    if arch in catalog.models:
        return catalog.models[arch]
    plugin = config.plugin
    package = plugin.package or plugin.name or "?"
    version = f" (version {plugin.version} made it)" if plugin.version else ""
    raise MissingPluginError(
        f"model architecture '{arch}' is provided by plugin '{plugin.name or '?'}', which is not installed: "
        f"pip install {package}{version}"
    )


def build(config: Config, model_bytes: bytes, catalog: Catalog | None = None, label: str = "config.json"):
    """The module tree of ``config`` with the weights of ``model_bytes`` loaded, in eval mode (``label`` names the
    artifact in errors)."""
    import torch

    from zoo.quantization import pipeline
    from zoo_registry import codec
    catalog = catalog or get_catalog()
    spec = find_spec(config, catalog, label)
    if config.kind == "float" or config.preset is None:
        with torch.random.fork_rng():
            torch.manual_seed(0)
            model = spec.build(config.num_classes)
        state = codec.decode(model_bytes)
        from zoo import state_dicts

        state_dicts.check_finite_weights(state, f"float model '{config.arch}'")
        state_dicts.load_strict(model, state)
        return model.eval()
    try:
        preset = config.preset.to_spec()
    except ValueError as exc:
        from zoo.core.errors import IntegrityError
        raise IntegrityError(f"{label}: config.json: preset: {exc}") from None
    for name in preset.dynamic_modules:
        # Refused before anything is imported: a downloaded config.json must not choose what zoo runs.
        try:
            catalog.module_type(name)
        except IncompatibleError as exc:
            raise IncompatibleError(f"config.json: preset.dynamic_modules: {exc}") from None
    backend = catalog.backend(config.backend_name)
    backend.check(preset)
    patterns = list(catalog.fusion_patterns.values())
    with backend.engine(preset.engine):
        model = pipeline.skeleton(spec, preset, backend, config.num_classes, config.image_size, patterns, catalog)
        backend.load_state_dict(model, codec.decode(model_bytes))
    return model.eval()


def check_runs(model, config: Config, label: str, catalog: Catalog | None = None) -> None:
    """Run ``model`` once on two random images; refuse outputs of the wrong shape or not finite.

    Raises IntegrityError naming ``label``: such a model would load, be recorded, and fail or mislead later.
    """
    import contextlib

    import torch

    from zoo.core.errors import IntegrityError

    catalog = catalog or get_catalog()
    size, channels, classes = config.image_size, config.in_channels, config.num_classes
    images = torch.randn(2, channels, size, size, generator=torch.Generator().manual_seed(0))
    backend = config.backend_name
    engine = catalog.backend(backend).engine(config.engine) if backend else contextlib.nullcontext()
    try:
        with engine, torch.inference_mode():
            outputs = model(images)
    except Exception as exc:  # whatever the model raises, the artifact is what is wrong
        raise IntegrityError(f"{label}: the rebuilt model fails on a test input ({type(exc).__name__}: "
                             f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''})") from None
    if not isinstance(outputs, torch.Tensor) or tuple(outputs.shape) != (2, classes):
        shape = tuple(outputs.shape) if isinstance(outputs, torch.Tensor) else type(outputs).__name__
        raise IntegrityError(f"{label}: the rebuilt model gives outputs of shape {shape} for 2 images, not "
                             f"(2, {classes}) as config.json's num_classes says")
    if not torch.isfinite(outputs).all():
        raise IntegrityError(f"{label}: the rebuilt model gives non-finite outputs (NaN or infinity) on a test input")


def load_directory(directory: Path, label: str | None = None,
                   catalog: Catalog | None = None) -> tuple[Any, Config, Card]:
    """(model, config, card) from an artifact directory, after checking every file's sha256."""
    label = label or str(directory)
    config, card, model_bytes = artifact.read_verified(directory, label)
    return build(config, model_bytes, catalog, label), config, card


def load_reference(reference: str, registry=None, catalog: Catalog | None = None) -> tuple[Any, Config, Card]:
    """(model, config, card) of a registry version: NAME for the latest, NAME@DIGEST for one version."""
    from zoo_registry.store import Registry

    registry = registry or Registry()
    entry = registry.resolve(reference)
    config, card, model_bytes = registry.open(entry)
    return build(config, model_bytes, catalog, entry.ref), config, card
