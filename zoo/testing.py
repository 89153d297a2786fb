"""A check for plugin authors' own tests: one call takes a registered model through zoo's whole path.

    from zoo.testing import check_model

    def test_mynet_quantizes_and_reloads():
        check_model("mynet", preset="fbgemm-histogram", backend="fx")

``check_model`` builds the model with random weights, fuses it (with its own
fuse, else the registered fusion patterns) and checks that fusion kept the
float outputs, quantizes it with the preset on random images, and round-trips
the int8 model through the registry: the codec's bytes, config.json, and the
module tree rebuilt by the plugin must give bit-identical outputs. A failing
step raises an AssertionError that names it. Random weights are enough for
all of this and need neither a dataset nor a download.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from zoo.core.errors import UnknownNameError
from zoo.core.specs import FusionPattern, ModelSpec, Preset
from zoo.core.versions import versions
from zoo.host.plugins import Catalog, get_catalog
from zoo.jobs.quantize import float_size_bytes
from zoo.jobs.record import plugin_info
from zoo.quantization import fusion, pipeline
from zoo_registry import codec, loading
from zoo_registry.config import make_config
from zoo_registry.schema import check_config


@dataclass(frozen=True)
class ModelCheck:
    """What ``check_model`` made and measured."""

    arch: str
    preset: str
    backend: str
    float_model: nn.Module
    model: nn.Module
    """The int8 model, in eval mode."""
    fused: list[list[str]] | None
    """The submodule groups the registered fusion patterns fuse (checked to keep the float outputs); None for a
    model with a fuse of its own. Whether the backend fuses this way (eager) or its own way (fx, pt2e) is its own."""
    size_bytes: int
    """The int8 state dict as the registry stores it (safetensors codec)."""
    float_size_bytes: int
    max_abs_error: float
    """The largest difference between the int8 and the float outputs on the check's random images."""


def check_model(arch: str, preset: str = "fbgemm-histogram", backend: str | None = None, *, num_classes: int = 10,
                image_size: int | None = None, batch_size: int = 4, calibration_batches: int = 2, seed: int = 0,
                catalog: Catalog | None = None) -> ModelCheck:
    """Build ``arch`` as registered, fuse it, quantize it with ``preset`` through ``backend`` (default: the
    preset's first) on random images, and round-trip it through the registry codec; assert every step, and
    return what was made.

    ``image_size`` defaults to the model's ``input_size``; outputs are compared on a batch of
    ``batch_size`` random images (at least 2). Static presets calibrate on
    ``calibration_batches`` random batches; QAT presets take that many training steps
    on random labels. The caller's random state is left as it was.
    """
    if batch_size < 2:
        raise ValueError("batch_size must be at least 2: outputs that do not depend on the input show only in a batch")
    catalog = catalog or get_catalog()
    spec = _registered(catalog, arch)
    recipe = catalog.preset(preset)
    backend = pipeline.choose_backend(spec, recipe, backend, catalog)
    implementation = catalog.backend(backend)
    implementation.check(recipe)
    recipe, _ = implementation.adapt(recipe)
    size = image_size or spec.input_size
    patterns = list(catalog.fusion_patterns.values())
    generator = torch.Generator().manual_seed(seed)

    def images(count: int) -> torch.Tensor:
        return torch.randn(count, spec.in_channels, size, size, generator=generator)

    probe = images(batch_size)
    with torch.random.fork_rng(), implementation.engine(recipe.engine), torch.no_grad():
        # Never the seed 0 zoo rebuilds under, so a value kept outside the state dict comes back different.
        torch.manual_seed(seed + 1)
        float_model = settle_batch_norm(spec.build(num_classes), images(8))
        expected = float_model(probe)
        _check_outputs(arch, "float", expected, batch_size, num_classes)
        fused = _check_fusion(arch, float_model, spec, patterns, probe, expected, catalog)
        with torch.enable_grad():
            model = _quantize(float_model, spec, recipe, implementation, size, patterns, images, batch_size,
                              num_classes, calibration_batches, catalog)
        output = model(probe)
        _check_outputs(arch, "int8", output, batch_size, num_classes)
        model_bytes = _check_round_trip(arch, model, output, probe, spec, recipe, backend, num_classes, size, catalog,
                                        patterns)

    return ModelCheck(arch=spec.name, preset=recipe.name, backend=backend, float_model=float_model, model=model,
                      fused=fused, size_bytes=len(model_bytes), float_size_bytes=float_size_bytes(float_model),
                      max_abs_error=(output - expected).abs().max().item())


@torch.no_grad()
def settle_batch_norm(model: nn.Module, images: torch.Tensor) -> nn.Module:
    """Give every BatchNorm the statistics of ``images``; returns the model in eval mode.

    With random weights and BatchNorm's initial running statistics, a deep
    network's activations can vanish (MobileNetV2's outputs are ~1e-10) and its
    int8 outputs come out all zero, which any two models would agree on.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [norm.momentum for norm in norms]
    for norm in norms:
        norm.momentum = None  # a cumulative average: one pass sets the statistics outright
    model.train()
    model(images)
    for norm, momentum in zip(norms, momenta):
        norm.momentum = momentum
    return model.eval()


def _registered(catalog: Catalog, arch: str) -> ModelSpec:
    """The model's spec; a plugin that reported an error fails the check even if the model itself registered."""
    try:
        spec = catalog.model(arch)
    except UnknownNameError as exc:
        failed = "; ".join(f"plugin '{r.name}' failed: {r.errors[0]}" for r in catalog.failures())
        raise AssertionError(f"{exc}" + (f" ({failed})" if failed else "")) from None
    owner = catalog.reports.get(catalog.owner("model", spec.name) or "")
    if owner is not None and owner.errors:
        raise AssertionError(f"plugin '{owner.name}', which registers '{spec.name}', reported: "
                             + "; ".join(owner.errors))
    return spec


def _check_outputs(arch: str, label: str, output: torch.Tensor, batch_size: int, num_classes: int) -> None:
    if tuple(output.shape) != (batch_size, num_classes):
        raise AssertionError(f"the {label} {arch} gives outputs of shape {tuple(output.shape)}; expected "
                             f"({batch_size}, {num_classes}) for a batch of {batch_size} and {num_classes} classes")
    if not torch.isfinite(output).all():
        raise AssertionError(f"the {label} {arch} gives non-finite outputs on random images")
    if torch.equal(output, output[:1].expand_as(output)):
        raise AssertionError(f"the {label} {arch} gives the same outputs for every input, so comparing them would "
                             "prove nothing; does it use its input?")


def _check_fusion(arch: str, float_model: nn.Module, spec: ModelSpec, patterns: list[FusionPattern],
                  probe: torch.Tensor, expected: torch.Tensor, catalog: Catalog) -> list[list[str]] | None:
    """Fusing (the model's own fuse, else the registered patterns) must keep the float outputs."""
    groups = None if spec.fuse else [chain for _, chain in fusion.find_chains(float_model, patterns, catalog)]
    fused_model = pipeline.fuse(copy.deepcopy(float_model), spec, patterns, is_qat=False, catalog=catalog).eval()
    output = fused_model(probe)
    scale = expected.abs().max().item()
    if not torch.allclose(output, expected, rtol=1e-3, atol=1e-4 * max(scale, 1.0)):
        raise AssertionError(f"fusing {arch} changed its float outputs by up to "
                             f"{(output - expected).abs().max().item():.3g} (largest output {scale:.3g})")
    return groups


def _quantize(float_model: nn.Module, spec: ModelSpec, preset: Preset, backend, size: int,
              patterns: list[FusionPattern], images: Callable[[int], torch.Tensor], batch_size: int,
              num_classes: int, batches: int, catalog: Catalog) -> nn.Module:
    if preset.method == "dynamic":
        return pipeline.quantize_dynamic(float_model, spec, preset, backend, size, catalog)
    prepared = pipeline.prepare(float_model, spec, preset, backend, size, patterns, catalog)
    if preset.method == "static":
        batches_of_images: Any = [(images(batch_size), None) for _ in range(batches)]  # what a loader yields
        pipeline.calibrate(prepared, batches_of_images)
    else:
        prepared.train()
        optimizer = torch.optim.SGD(prepared.parameters(), lr=preset.qat_lr)
        for _ in range(batches):
            labels = torch.randint(0, num_classes, (batch_size,))
            loss = nn.functional.cross_entropy(prepared(images(batch_size)), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return pipeline.convert(prepared, backend)


def _check_round_trip(arch: str, model: nn.Module, output: torch.Tensor, probe: torch.Tensor, spec: ModelSpec,
                      preset: Preset, backend: str, num_classes: int, size: int, catalog: Catalog,
                      patterns: list[FusionPattern]) -> bytes:
    """Encode, write config.json's content as text and read it back, rebuild through the plugin, compare."""
    implementation = catalog.backend(backend)
    model_bytes = codec.encode(implementation.state_dict(model))
    made = make_config(
        kind="int8", arch=spec.name, plugin=plugin_info(catalog, spec.name), num_classes=num_classes,
        image_size=size, in_channels=spec.in_channels, preset=preset, backend=backend, versions=versions())
    config = check_config(json.loads(json.dumps(made.to_dict())), spec.name)
    blank = pipeline.skeleton(spec, preset, implementation, num_classes, size, patterns, catalog)
    if torch.equal(blank(probe), output):
        raise AssertionError(f"the {arch} that zoo rebuilds gives the int8 outputs before any weights are loaded, "
                             "so the round trip would prove nothing; does the model use its weights?")
    rebuilt = loading.build(config, model_bytes, catalog)
    reloaded = rebuilt(probe)
    if not torch.equal(reloaded, output):
        raise AssertionError(
            f"{arch} reloaded through the registry codec differs from the model as made (by up to "
            f"{(reloaded - output).abs().max().item():.3g}): it keeps values outside its state dict, or its module "
            "tree depends on more than num_classes")
    if codec.encode(implementation.state_dict(rebuilt)) != model_bytes:
        raise AssertionError(f"{arch} reloaded through the registry codec encodes to different bytes")
    return model_bytes
