"""The steps from a float model to an int8 one: fuse, prepare, calibrate or train, convert.

These functions know no architecture and no backend: what they need of a model
comes from its ModelSpec, and every quantization call goes through the
backend object (``zoo.quantization.backends.Backend``) the caller passes. ``skeleton``
builds the same int8 module tree without data, which is what a stored state
dict is loaded into.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from zoo.core.errors import IncompatibleError, NonFiniteError
from zoo.core.progress import QUIET, Progress
from zoo.core.specs import FusionPattern, ModelSpec, Preset
from zoo.quantization import fusion
from zoo.training import QatRecipe, train_qat

PER_CHANNEL = (torch.per_channel_affine, torch.per_channel_symmetric, torch.per_channel_affine_float_qparams)


def example_inputs(spec: ModelSpec, image_size: int, batch_size: int = 1) -> tuple[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return (torch.randn(batch_size, spec.in_channels, image_size, image_size, generator=generator),)


def fuse(model: nn.Module, spec: ModelSpec, patterns: Iterable[FusionPattern], is_qat: bool = False,
         catalog=None) -> nn.Module:
    """Fuse in place with the model's own fuse, else with the registered fusion patterns."""
    model.train(is_qat)
    if spec.fuse is not None:
        spec.fuse(model, is_qat)
    else:
        fusion.apply_patterns(model, patterns, is_qat, catalog)
    return model


def choose_backend(spec: ModelSpec, preset: Preset, requested: str | None, catalog) -> str:
    """The backend to use: ``requested``, else the preset's default; refused, before any work starts, when the
    preset or the model does not go through it."""
    usable = catalog.preset_backends(preset)
    if requested is not None and requested not in catalog.backends:
        from zoo.core.errors import UnknownNameError

        raise UnknownNameError("backend", requested, catalog.backends)
    backend_name = requested or usable[0]
    if backend_name not in usable:
        raise IncompatibleError(f"preset '{preset.name}' does not work with backend '{backend_name}'; "
                                f"it works with: {', '.join(usable)}")
    if not spec.supports(backend_name):
        raise IncompatibleError(f"model '{spec.name}' does not go through backend '{backend_name}'; "
                                f"it goes through: {', '.join(spec.backends or ())}")
    return backend_name


def prepare(float_model: nn.Module, spec: ModelSpec, preset: Preset, backend, image_size: int,
            patterns: Iterable[FusionPattern], catalog=None) -> nn.Module:
    """A copy of ``float_model`` with observers (static) or fake-quantizers (QAT) inserted by ``backend``.

    Raises:
        IncompatibleError: ``preset``'s module plan names a module ``float_model`` does not have (a stored model
            made from another version of the architecture), or the backend cannot apply it.
    """
    check_plan(float_model, preset, spec.name)
    model = copy.deepcopy(float_model)
    patterns = list(patterns)

    def fuse_model(target: nn.Module, is_qat: bool) -> None:
        fuse(target, spec, patterns, is_qat, catalog)

    try:
        return backend.prepare(model, preset, example_inputs(spec, image_size, batch_size=2), fuse_model)
    except IncompatibleError as exc:
        raise IncompatibleError(f"model '{spec.name}': {exc}") from None


def check_plan(float_model: nn.Module, preset: Preset, arch: str) -> None:
    names = {name for name, _ in float_model.named_modules()}
    missing = [name for name, _ in preset.module_plan if name not in names]
    if missing:
        raise IncompatibleError(f"preset '{preset.name}' has a rule for module '{missing[0]}', which model "
                                f"'{arch}' does not have ({len(missing)} such); it was made from another version "
                                "of the architecture")


@torch.no_grad()
def calibrate(model: nn.Module, loader: DataLoader, *, progress: Progress = QUIET) -> int:
    """Run the calibration images through the observers; returns how many were seen.

    Raises ZooError naming the first module whose output is not finite: an observer that saw NaN or infinity
    would give the whole layer a meaningless scale.
    """
    model.eval()
    seen = 0
    with progress.steps(loader, "calibrating") as batches:
        for images, _ in batches:
            if not torch.isfinite(images).all():
                raise NonFiniteError(f"calibration image batch {seen // max(images.shape[0], 1) + 1} holds NaN or "
                               "infinity; check the dataset")
            outputs = model(images)
            if isinstance(outputs, torch.Tensor) and not torch.isfinite(outputs).all():
                raise NonFiniteError(f"calibration: {first_non_finite(model, images)} gives NaN or infinite activations "
                               f"on calibration images {seen + 1}..{seen + images.shape[0]}")
            seen += images.shape[0]
    return seen


def first_non_finite(model: nn.Module, images: torch.Tensor) -> str:
    """The name of the first module (in call order) whose output holds NaN or infinity on ``images``."""
    found: list[str] = []

    def hook(name):
        def check(module, inputs, output):
            if not found and isinstance(output, torch.Tensor) and output.is_floating_point() \
                    and not torch.isfinite(output).all():
                found.append(name)
        return check

    handles = [module.register_forward_hook(hook(name)) for name, module in model.named_modules() if name]
    try:
        with torch.no_grad():
            model(images)
    finally:
        for handle in handles:
            handle.remove()
    return f"module '{found[0]}'" if found else "the model"


def convert(prepared: nn.Module, backend) -> nn.Module:
    model = backend.convert(prepared)
    check_finite(backend.state_dict(model))
    return model


def check_finite(state: Mapping[str, Any]) -> None:
    """Refuse an int8 model with a NaN or infinite scale: it would save fine and fail when run."""
    for key, value in state.items():
        values = value if isinstance(value, tuple) else (value,)
        for item in values:
            if isinstance(item, torch.Tensor):
                if item.is_quantized:
                    scales = (item.q_per_channel_scales() if item.qscheme() in PER_CHANNEL
                              else torch.tensor(item.q_scale()))
                elif key.endswith("scale") and item.is_floating_point():
                    scales = item
                else:
                    continue
                finite = bool(torch.isfinite(scales).all())
            elif isinstance(item, float) and key.endswith("scale"):
                finite = math.isfinite(item)
            else:
                continue
            if not finite:
                raise NonFiniteError(f"quantization produced a non-finite scale in '{key}' (training diverged?); "
                               "for QAT try a smaller --qat-lr")


def quantize_static(float_model, spec, preset, backend, image_size, patterns, calibration: DataLoader,
                    catalog=None, *, progress: Progress = QUIET):
    prepared = prepare(float_model, spec, preset, backend, image_size, patterns, catalog)
    seen = calibrate(prepared, calibration, progress=progress)
    return convert(prepared, backend), {"split": "train", "images": seen}


def quantize_qat(float_model, spec, preset, backend, image_size, patterns, train_loader: DataLoader,
                 recipe: QatRecipe, catalog=None, *, progress: Progress = QUIET):
    prepared = prepare(float_model, spec, preset, backend, image_size, patterns, catalog)
    history = train_qat(prepared, train_loader, recipe, backend, progress=progress)
    return convert(prepared, backend), history


def quantize_dynamic(float_model, spec, preset, backend, image_size, catalog=None):
    """Dynamic quantization of the modules ``preset.dynamic_modules`` names.

    The names resolve only through the module types installed plugins allow
    (``catalog``, default the installed plugins'): a preset can come from a
    downloaded config.json, which must not choose what zoo imports.
    """
    from zoo.host.plugins import get_catalog

    types = [(catalog or get_catalog()).module_type(name) for name in preset.dynamic_modules]
    model = copy.deepcopy(float_model).eval()
    return backend.quantize_dynamic(model, types, example_inputs(spec, image_size, batch_size=2))


def skeleton(spec: ModelSpec, preset: Preset, backend, num_classes: int, image_size: int,
             patterns: Iterable[FusionPattern], catalog=None) -> nn.Module:
    """The int8 module tree of ``spec`` under ``preset`` and ``backend``, with placeholder values.

    Built the way a quantized model is made (float → fuse → prepare → convert)
    but with no data, so a stored int8 state dict can be loaded into it.
    """
    with torch.random.fork_rng():  # seeded for repeatable placeholders, without touching the caller's RNG
        torch.manual_seed(0)
        float_model = spec.build(num_classes).eval()
    with backend.engine(preset.engine):
        if preset.method == "dynamic":
            return quantize_dynamic(float_model, spec, preset, backend, image_size, catalog)
        prepared = prepare(float_model, spec, preset, backend, image_size, patterns, catalog)
        # One pass gives every observer a range, so convert computes no placeholder from an empty one.
        prepared.eval()
        with torch.no_grad():
            prepared(*example_inputs(spec, image_size, batch_size=2))
        return convert(prepared, backend)


def from_prepared_state(spec: ModelSpec, preset: Preset, backend, num_classes: int, image_size: int,
                        patterns: Iterable[FusionPattern], state: Mapping[str, Any], catalog=None) -> nn.Module:
    """The int8 model made by loading ``state``, a state dict saved after fuse → prepare with ``preset`` (before
    convert, as torchvision publishes its QAT MobileNetV3), into ``spec`` prepared so, then converting it.

    Raises:
        RuntimeError: ``state`` does not fit the prepared model (torch's load_state_dict message).
    """
    with torch.random.fork_rng():
        torch.manual_seed(0)
        float_model = spec.build(num_classes).eval()
    with backend.engine(preset.engine):
        prepared = prepare(float_model, spec, preset, backend, image_size, patterns, catalog)
        prepared.load_state_dict(state)
        return convert(prepared, backend)
