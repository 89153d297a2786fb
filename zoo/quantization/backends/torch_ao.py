"""The one place zoo calls torch.ao.quantization: the ``eager`` and ``fx`` backends.

torch.ao.quantization (eager and FX graph mode) is deprecated upstream in
favour of torchao's pt2e flow (``zoo.quantization.backends.pt2e``). Everything that touches
it lives here, behind the ``zoo.quantization.backends.Backend`` protocol and functions that
take zoo's plain Preset and Observer types. Models made here run on torch's
quantized engines (fbgemm, x86, qnnpack, onednn), which is process-wide state:
``engine`` sets it for a block.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast

import torch
from torch import nn

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import torch.ao.nn.intrinsic.qat as nniqat
    import torch.ao.quantization as tq
    import torch.ao.quantization.quantize_fx as qfx
    from torch.ao.nn.quantized import FloatFunctional
    from torch.ao.quantization import DeQuantStub, QuantStub

from zoo.core.errors import IncompatibleError
from zoo.core.specs import Observer, Preset
from zoo.quantization import equalization
from zoo.quantization.backends import Backend, FuseFunction

__all__ = [
    "DeQuantStub",
    "EagerBackend",
    "FloatFunctional",
    "FxBackend",
    "QuantStub",
    "check_engine",
    "engine",
    "fuse_modules",
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
    observer: Any = _OBSERVERS[spec.kind]
    if not fake_quant:
        return observer.with_args(**kwargs)
    if spec.kind.startswith("moving_average"):
        # The fused kernel is what torch's own QAT defaults use: same numerics, faster.
        return tq.FusedMovingAvgObsFakeQuantize.with_args(observer=observer, **kwargs)
    return tq.FakeQuantize.with_args(observer=observer, **kwargs)


def qconfig(preset: Preset) -> tq.QConfig:
    assert preset.activation is not None and preset.weight is not None  # static and QAT presets have both
    return _qconfig(preset.activation, preset.weight, preset.method == "qat")


def _qconfig(activation: Observer, weight: Observer, fake_quant: bool) -> tq.QConfig:
    return tq.QConfig(activation=_observer(activation, fake_quant), weight=_observer(weight, fake_quant))


def module_qconfigs(preset: Preset) -> list[tuple[str, tq.QConfig | None]]:
    """(module path, its qconfig or None for float) for each module a rule decided, deepest first."""
    fake_quant = preset.method == "qat"
    return [(name, None if rule.activation is None or rule.weight is None
             else _qconfig(rule.activation, rule.weight, fake_quant))
            for name, rule in preset.module_settings()]


class _Island(nn.Module):
    """A module whose tensors are of the other kind than its surroundings' in eager mode: float inside a
    quantized model (dequantize, run, quantize again) or quantized inside a float part (the reverse)."""

    def __init__(self, module: nn.Module, float_inside: bool, qconfig: tq.QConfig):
        super().__init__()
        self.enter: nn.Module = DeQuantStub() if float_inside else QuantStub()
        self.module = module
        self.leave: nn.Module = QuantStub() if float_inside else DeQuantStub()
        for stub in (self.enter, self.leave):
            stub.qconfig = qconfig  # type: ignore[assignment]  # torch.ao reads this attribute

    def forward(self, x):
        return self.leave(self.module(self.enter(x)))


# Eager mode can keep only modules called as module(tensor) in float: these are called otherwise, or are the stubs.
_NOT_ISLANDS = (FloatFunctional, QuantStub, DeQuantStub)


def _apply_module_rules(model: nn.Module, preset: Preset) -> None:
    """Set each ruled module's qconfig, and wrap every module whose tensors differ in kind from its parent's
    (float in quantized, or the reverse) so eager mode converts between them."""
    explicit = dict(module_qconfigs(preset))
    if not explicit:
        return
    for name, setting in explicit.items():
        model.get_submodule(name).qconfig = setting  # type: ignore[assignment]

    def visit(parent: nn.Module, prefix: str, parent_setting: tq.QConfig | None) -> None:
        for child_name, child in list(parent.named_children()):
            path = f"{prefix}{child_name}"
            setting = explicit.get(path, parent_setting)
            if path in explicit and (setting is None) != (parent_setting is None) \
                    and not isinstance(child, nn.Identity):
                if isinstance(child, _NOT_ISLANDS):
                    raise IncompatibleError(f"backend 'eager' cannot give module '{path}' "
                                            f"({type(child).__name__}) other tensors than its surroundings; "
                                            "use --backend fx")
                quantized_side = setting if setting is not None else parent_setting
                assert quantized_side is not None  # the two differ in kind, so one of them quantizes
                island = _Island(child, float_inside=setting is None, qconfig=quantized_side)
                island.qconfig = parent_setting  # type: ignore[assignment]
                setattr(parent, child_name, island)
            visit(child, f"{path}.", setting)

    visit(model, "", model.qconfig)  # type: ignore[arg-type]


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


def refuse_equalization(backend: str, preset: Preset) -> None:
    if preset.equalize:
        raise IncompatibleError(f"cross-layer equalization (--equalize) works in backend eager only, on its fused "
                                f"models; backend '{backend}' fuses inside its own prepare: use --backend eager")


class _TorchAo(Backend):
    """What eager and FX mode share: observers from zoo's Observer type, torch's quantized engines, QAT controls."""

    methods = ("static", "qat", "dynamic")

    def check(self, preset: Preset) -> None:
        check_engine(preset.engine)

    def engine(self, name: str | None):
        return engine(name) if name else contextlib.nullcontext()

    def set_engine(self, name: str | None) -> None:
        if name:
            check_engine(name)
            torch.backends.quantized.engine = name

    def freeze_observers(self, prepared: nn.Module) -> None:
        prepared.apply(tq.disable_observer)

    def freeze_bn_stats(self, prepared: nn.Module) -> None:
        prepared.apply(nniqat.freeze_bn_stats)


class EagerBackend(_TorchAo):
    """torch.ao eager mode: fuse, then QuantStub/DeQuantStub mark what becomes int8 (models must carry them)."""

    name = "eager"

    @_quiet
    def prepare(self, model: nn.Module, preset: Preset, example_inputs: tuple, fuse: FuseFunction) -> nn.Module:
        qat = preset.method == "qat"
        fuse(model, qat)
        if preset.equalize:
            equalization.equalize(model)
        model.train(qat)
        model.qconfig = qconfig(preset)  # type: ignore[assignment]  # torch.ao reads this attribute
        _apply_module_rules(model, preset)
        if qat:
            return tq.prepare_qat(model, inplace=True)
        return tq.prepare(model, inplace=True)

    @_quiet
    def convert(self, prepared: nn.Module) -> nn.Module:
        return tq.convert(prepared.eval(), inplace=True).eval()

    @_quiet
    def quantize_dynamic(self, model: nn.Module, module_types: Sequence[type], example_inputs: tuple) -> nn.Module:
        return tq.quantize_dynamic(model.eval(), set(module_types), dtype=torch.qint8, inplace=False).eval()


class FxBackend(_TorchAo):
    """torch.ao FX graph mode: symbolic tracing finds what to fuse and quantize (models must be FX-traceable)."""

    name = "fx"

    def check(self, preset: Preset) -> None:
        super().check(preset)
        refuse_equalization(self.name, preset)

    def qconfig_mapping(self, model: nn.Module, preset: Preset) -> tq.QConfigMapping:
        """What FX mode quantizes and how; a subclass can leave modules in float (``set_module_name(name, None)``)."""
        qat = preset.method == "qat"
        mapping = (tq.get_default_qat_qconfig_mapping if qat else tq.get_default_qconfig_mapping)(preset.engine)
        # Keep the default mapping's fixed-qparams entries (sigmoid, softmax...), change the rest.
        mapping.set_global(qconfig(preset))
        # As module names, which FX looks up from a module through its parents: the innermost rule wins.
        for name, setting in module_qconfigs(preset):
            mapping.set_module_name(name, setting)
        return mapping

    @_quiet
    def prepare(self, model: nn.Module, preset: Preset, example_inputs: tuple, fuse: FuseFunction) -> nn.Module:
        qat = preset.method == "qat"
        mapping = self.qconfig_mapping(model, preset)
        model.train(qat)
        try:
            if qat:
                return qfx.prepare_qat_fx(model, mapping, example_inputs)
            return qfx.prepare_fx(model, mapping, example_inputs)
        except (torch.fx.proxy.TraceError, TypeError, NotImplementedError) as exc:
            raise IncompatibleError(f"{type(model).__name__} cannot go through backend 'fx': torch.fx cannot trace it "
                                    f"({_first_line(exc)})") from None

    @_quiet
    def convert(self, prepared: nn.Module) -> nn.Module:
        return qfx.convert_fx(cast(torch.fx.GraphModule, prepared.eval())).eval()

    @_quiet
    def quantize_dynamic(self, model: nn.Module, module_types: Sequence[type], example_inputs: tuple) -> nn.Module:
        mapping = tq.QConfigMapping()
        for module_type in module_types:
            mapping.set_object_type(module_type, tq.default_dynamic_qconfig)
        return qfx.convert_fx(qfx.prepare_fx(model.eval(), mapping, example_inputs)).eval()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
