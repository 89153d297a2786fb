"""The one place zoo calls torch.ao.quantization.

torch.ao.quantization (eager and FX) is deprecated upstream in favour of
torchao's pt2e flow. Everything that touches it lives here, behind functions
that take zoo's plain Preset and Observer types, so a pt2e backend can be added
beside this one without touching the pipeline.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import nn

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import torch.ao.nn.intrinsic.qat as nniqat
    import torch.ao.quantization as tq
    import torch.ao.quantization.quantize_fx as qfx
    from torch.ao.nn.quantized import FloatFunctional
    from torch.ao.quantization import DeQuantStub, QuantStub

from zoo.errors import IncompatibleError
from zoo.specs import Observer, Preset

__all__ = [
    "DeQuantStub",
    "FloatFunctional",
    "QuantStub",
    "check_engine",
    "engine",
    "freeze_bn_stats",
    "freeze_observers",
    "fuse_modules",
    "quantize_dynamic",
    "prepare",
    "convert",
    "supported_engines",
]


def _quiet(function: Callable) -> Callable:
    """Silence torch.ao's deprecation notice, which it repeats on every call; DESIGN.md says where we go next."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            warnings.filterwarnings("ignore", message=r"must run observer before calling calculate_qparams")
            warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor, torch\.quantize_per_channel")
            return function(*args, **kwargs)

    return wrapper


_OBSERVERS = {
    "minmax": tq.MinMaxObserver,
    "moving_average_minmax": tq.MovingAverageMinMaxObserver,
    "histogram": tq.HistogramObserver,
    "per_channel_minmax": tq.PerChannelMinMaxObserver,
    "moving_average_per_channel_minmax": tq.MovingAveragePerChannelMinMaxObserver,
}


def supported_engines() -> list[str]:
    return [e for e in torch.backends.quantized.supported_engines if e != "none"]


def check_engine(name: str) -> None:
    if name not in supported_engines():
        raise IncompatibleError(
            f"quantized engine '{name}' is not available on this CPU/torch build; "
            f"available: {', '.join(supported_engines())}"
        )


@contextlib.contextmanager
def engine(name: str) -> Iterator[None]:
    """Run the block with ``name`` as torch's quantized engine, then restore the previous one."""
    check_engine(name)
    previous = torch.backends.quantized.engine
    torch.backends.quantized.engine = name
    try:
        yield
    finally:
        torch.backends.quantized.engine = previous


def _observer(spec: Observer, fake_quant: bool):
    dtype = getattr(torch, spec.dtype)
    if spec.per_channel:
        qscheme = torch.per_channel_symmetric if spec.symmetric else torch.per_channel_affine
    else:
        qscheme = torch.per_tensor_symmetric if spec.symmetric else torch.per_tensor_affine
    kwargs = {"dtype": dtype, "qscheme": qscheme}
    if spec.reduce_range:  # torch warns whenever it is passed, even as False
        kwargs["reduce_range"] = True
    if spec.quant_min is not None:
        kwargs.update(quant_min=spec.quant_min, quant_max=spec.quant_max)
    observer = _OBSERVERS[spec.kind]
    if not fake_quant:
        return observer.with_args(**kwargs)
    if spec.kind.startswith("moving_average"):
        # The fused kernel is what torch's own QAT defaults use: same numerics, faster.
        return tq.FusedMovingAvgObsFakeQuantize.with_args(observer=observer, **kwargs)
    return tq.FakeQuantize.with_args(observer=observer, **kwargs)


def qconfig(preset: Preset) -> tq.QConfig:
    fake_quant = preset.method == "qat"
    return tq.QConfig(activation=_observer(preset.activation, fake_quant),
                      weight=_observer(preset.weight, fake_quant))


@_quiet
def fuse_modules(model: nn.Module, groups: Sequence[Sequence[str]], is_qat: bool = False) -> None:
    """Fuse each group of submodule names in place (QAT keeps BatchNorm trainable)."""
    if not groups:
        return
    groups = [list(group) for group in groups]
    if is_qat:
        tq.fuse_modules_qat(model, groups, inplace=True)
    else:
        tq.fuse_modules(model, groups, inplace=True)


@_quiet
def prepare(model: nn.Module, preset: Preset, mode: str, example_inputs: tuple) -> nn.Module:
    """Insert observers (static) or fake-quantizers (QAT). Eager models must already be fused."""
    config = qconfig(preset)
    qat = preset.method == "qat"
    if mode == "eager":
        model.qconfig = config
        if qat:
            return tq.prepare_qat(model.train(), inplace=True)
        return tq.prepare(model.eval(), inplace=True)
    mapping = (tq.get_default_qat_qconfig_mapping if qat else tq.get_default_qconfig_mapping)(preset.engine)
    # Keep the default mapping's fixed-qparams entries (sigmoid, softmax...), change the rest.
    mapping.set_global(config)
    if qat:
        return qfx.prepare_qat_fx(model.train(), mapping, example_inputs)
    return qfx.prepare_fx(model.eval(), mapping, example_inputs)


@_quiet
def convert(model: nn.Module, mode: str) -> nn.Module:
    model.eval()
    if mode == "eager":
        return tq.convert(model, inplace=True)
    return qfx.convert_fx(model)


@_quiet
def quantize_dynamic(model: nn.Module, types: Sequence[type], mode: str, example_inputs: tuple) -> nn.Module:
    """Quantize the weights of the modules of ``types`` ahead; activations are quantized at run time."""
    if mode == "eager":
        return tq.quantize_dynamic(model.eval(), set(types), dtype=torch.qint8, inplace=False)
    mapping = tq.QConfigMapping()
    for module_type in types:
        mapping.set_object_type(module_type, tq.default_dynamic_qconfig)
    return qfx.convert_fx(qfx.prepare_fx(model.eval(), mapping, example_inputs))


def freeze_observers(model: nn.Module) -> None:
    model.apply(tq.disable_observer)


def freeze_bn_stats(model: nn.Module) -> None:
    model.apply(nniqat.freeze_bn_stats)
