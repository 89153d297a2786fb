"""The one place zoo calls torchao: the ``pt2e`` backend (torch.export → prepare_pt2e → convert_pt2e).

pt2e is the successor of torch.ao's eager and FX modes. The float model is
captured with ``torch.export`` (batch dimension dynamic), a ``Quantizer``
annotates the graph (``X86InductorQuantizer`` for the ``x86_inductor``
engine), observers or fake-quantizers are inserted, and ``convert_pt2e``
replaces them with quantize/dequantize operations around float operators: the
int8 weights are constants of the graph, the per-channel weight scales are
buffers, and the per-tensor activation scales and zero points are literals in
the graph's calls. ``state_dict`` therefore adds those literals to the module's
own state dict (as ``qparams.<node>.scale`` / ``.zero_point``), and
``load_state_dict`` writes them back into a skeleton exported from the same
architecture, so a model is stored as plain int8 tensors and numbers like any
other, with nothing pickled.

The converted graph runs as it is (slowly: every operator in float between
quantize and dequantize) or through a runtime that fuses the int8 patterns:
torch.compile with torchao's inductor passes, or ONNX Runtime on its QDQ export.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, cast

import torch
from torch import nn

from zoo.core.errors import CodecError, IncompatibleError
from zoo.core.specs import Observer, Preset
from zoo.quantization.backends import Backend, FuseFunction

# torchao registers an Enum with torch's pytree at import, which logs a deprecation nobody using zoo can act on.
logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import torchao.quantization.pt2e as pt2e
    import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer as x86q
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e, prepare_qat_pt2e
    from torchao.quantization.pt2e.quantizer import QuantizationSpec
    from torchao.quantization.pt2e.quantizer.x86_inductor_quantizer import QuantizationConfig

ENGINES = ("x86_inductor",)
QPARAMS_PREFIX = "qparams."
# The quantize/dequantize calls convert_pt2e writes with literal (scale, zero point, quant_min, quant_max, dtype).
PER_TENSOR_OPS = (torch.ops.quantized_decomposed.quantize_per_tensor.default,
                  torch.ops.quantized_decomposed.dequantize_per_tensor.default)
BATCH_NORM_OPS = (torch.ops.aten._native_batch_norm_legit.default,)

_OBSERVERS = {
    "minmax": pt2e.MinMaxObserver,
    "moving_average_minmax": pt2e.MovingAverageMinMaxObserver,
    "histogram": pt2e.HistogramObserver,
    "per_channel_minmax": pt2e.PerChannelMinMaxObserver,
    "moving_average_per_channel_minmax": pt2e.MovingAveragePerChannelMinMaxObserver,
}
# The CPU flags of int8 dot-product instructions (VNNI); without them torchao advises 7-bit activations.
VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


def cpu_has_vnni() -> bool:
    """Whether this CPU has VNNI (from /proc/cpuinfo's flags; False where it cannot be read)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return any(flag in line.split() for flag in VNNI_FLAGS)
    except OSError:
        pass
    return False


def _spec(observer: Observer, qat: bool, weight: bool) -> QuantizationSpec:
    per_channel = observer.per_channel
    dtype = torch.int8 if observer.dtype == "qint8" else torch.uint8
    info = torch.iinfo(dtype)
    quant_min = observer.quant_min if observer.quant_min is not None else info.min
    quant_max = observer.quant_max if observer.quant_max is not None else info.max
    if per_channel:
        qscheme = torch.per_channel_symmetric if observer.symmetric else torch.per_channel_affine
    else:
        qscheme = torch.per_tensor_symmetric if observer.symmetric else torch.per_tensor_affine
    kind = _OBSERVERS[observer.kind]
    # eps as torchao's own x86 config: keeps scales of near-constant tensors away from zero.
    extra: dict[str, Any] = {"eps": 2 ** -12}
    constructor = (pt2e.FusedMovingAvgObsFakeQuantize.with_args(observer=kind, **extra) if qat
                   else kind.with_args(**extra))
    return QuantizationSpec(dtype=dtype, quant_min=quant_min, quant_max=quant_max, qscheme=qscheme,
                            ch_axis=0 if per_channel and weight else None, is_dynamic=False,
                            observer_or_fake_quant_ctr=constructor)


def _config(activation: Observer, weight: Observer, qat: bool) -> QuantizationConfig:
    act = _spec(activation, qat, weight=False)
    return QuantizationConfig(act, act, _spec(weight, qat, weight=True), None, qat)


def quantizer(preset: Preset) -> x86q.X86InductorQuantizer:
    """The X86InductorQuantizer for ``preset``'s observers (what torchao's default config does, from zoo's types),
    with its module rules where it has some."""
    qat = preset.method == "qat"
    assert preset.activation is not None and preset.weight is not None  # static and QAT presets have both
    config = _config(preset.activation, preset.weight, qat)
    if not preset.module_plan:
        return x86q.X86InductorQuantizer().set_global(config)
    settings = {name: None if rule.activation is None or rule.weight is None
                else _config(rule.activation, rule.weight, qat) for name, rule in preset.module_settings()}
    return _RuledQuantizer(config, settings)


# The operators whose module decides a fused pattern's rule (conv + batch norm + ReLU takes the conv's), as eager and
# FX mode fuse them into the first module.
_ANCHORS = {torch.ops.aten.conv1d.default, torch.ops.aten.conv2d.default, torch.ops.aten.conv3d.default,
            torch.ops.aten.linear.default, torch.ops.aten.matmul.default}


class _RuledQuantizer(x86q.X86InductorQuantizer):
    """X86InductorQuantizer with zoo's module rules: each pattern of the graph takes the rule of the innermost
    ruled module its anchor (the conv or linear, else its first node) was called in, or the global config.

    torchao's own ``set_module_name_qconfig`` needs every node of a pattern inside the named module, so a rule on
    a convolution alone would not reach the conv + batch norm + ReLU pattern it begins.
    """

    def __init__(self, global_config: QuantizationConfig, settings: Mapping[str, QuantizationConfig | None]):
        super().__init__()
        self.set_global(global_config)
        self.settings = dict(settings)

    def _setting_of(self, nodes) -> str | None:
        anchors = [n for n in nodes if getattr(n, "target", None) in _ANCHORS] or list(nodes)
        for node in anchors:
            stack = node.meta.get("nn_module_stack")
            if stack:
                paths = [path.removeprefix("L['self'].") for path, _ in stack.values()]
                return next((p for p in reversed(paths) if p in self.settings), None)
        return None

    def annotate(self, model: torch.fx.GraphModule) -> torch.fx.GraphModule:
        for path, config in self.settings.items():
            self._annotate_with_config(model, config, lambda nodes, path=path: self._setting_of(nodes) == path)
        self._annotate_with_config(model, self.global_config, lambda nodes: self._setting_of(nodes) is None)
        self._annotate_output_for_int8_in_int8_out_pattern_entry(model)
        return model


class Pt2eBackend(Backend):
    """torchao's pt2e flow with X86InductorQuantizer; models must be exportable by ``torch.export``."""

    name = "pt2e"
    methods = ("static", "qat")

    def check(self, preset: Preset) -> None:
        if preset.equalize:
            raise IncompatibleError("cross-layer equalization (--equalize) works in backend eager only, on its fused "
                                    "models; pt2e presets cannot have it: choose an eager preset such as "
                                    "fbgemm-minmax or qnnpack-minmax")
        if preset.engine not in ENGINES:
            raise IncompatibleError(f"backend 'pt2e' has no engine '{preset.engine}'; engines: {', '.join(ENGINES)}")

    def adapt(self, preset: Preset) -> tuple[Preset, list[str]]:
        import dataclasses

        activation = preset.activation
        if activation is None:  # a dynamic preset: pt2e has none, and check() refused it
            return preset, []
        top = activation.quant_max if activation.quant_max is not None else 255
        if cpu_has_vnni() or top <= 127:
            return preset, []
        def narrow(observer: Observer) -> Observer:
            return dataclasses.replace(observer, quant_min=observer.quant_min or 0,
                                       quant_max=min(127, observer.quant_max if observer.quant_max is not None
                                                     else 127))

        rules = tuple(rule if rule.activation is None else dataclasses.replace(rule, activation=narrow(rule.activation))
                      for rule in preset.module_rules)
        note = ("activations use 7 bits (0..127): this CPU has no VNNI, and without it X86InductorQuantizer's "
                "int8 kernels can saturate 8-bit activations (torchao's advice)")
        return dataclasses.replace(preset, activation=narrow(activation), module_rules=rules), [note]

    def prepare(self, model: nn.Module, preset: Preset, example_inputs: tuple, fuse: FuseFunction) -> nn.Module:
        qat = preset.method == "qat"
        exported = _export(model.train(qat), example_inputs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if qat:
                return _train_eval(prepare_qat_pt2e(exported, quantizer(preset))).train()
            return _train_eval(prepare_pt2e(exported, quantizer(preset))).eval()

    def convert(self, prepared: nn.Module) -> nn.Module:
        prepared.eval()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            converted = convert_pt2e(prepared)
        _drop_unused_attributes(converted)
        return _train_eval(converted).eval()

    def freeze_observers(self, prepared: nn.Module) -> None:
        prepared.apply(pt2e.disable_observer)

    def freeze_bn_stats(self, prepared: nn.Module) -> None:
        # An exported graph has no BatchNorm modules: clear the `training` argument of its batch-norm calls
        # (argument 5: input, weight, bias, running_mean, running_var, training, momentum, eps).
        changed = False
        graph: Any = prepared.graph
        for node in graph.nodes:
            if node.op == "call_function" and node.target in BATCH_NORM_OPS and node.args[5]:
                node.args = (*node.args[:5], False, *node.args[6:])
                changed = True
        if changed:
            cast(torch.fx.GraphModule, prepared).recompile()

    def state_dict(self, model: nn.Module) -> dict[str, Any]:
        state = model.state_dict()  # a fresh OrderedDict, with the modules' _metadata the codec keeps
        for node in _per_tensor_nodes(model):
            args: Any = node.args
            state[f"{QPARAMS_PREFIX}{node.name}.scale"] = float(args[1])
            state[f"{QPARAMS_PREFIX}{node.name}.zero_point"] = int(args[2])
        return state

    def load_state_dict(self, model: nn.Module, state: Mapping[str, Any]) -> None:
        from zoo import state_dicts
        nodes = {node.name: node for node in _per_tensor_nodes(model)}
        qparams = {key: value for key, value in state.items() if key.startswith(QPARAMS_PREFIX)}
        expected = {f"{QPARAMS_PREFIX}{name}.{part}" for name in nodes for part in ("scale", "zero_point")}
        if set(qparams) != expected:
            odd = sorted(set(qparams) ^ expected)
            raise CodecError(f"the stored pt2e graph does not match the one this zoo exports ({len(odd)} "
                             f"quantization points differ, first '{odd[0]}'): it was made with other torch/torchao "
                             "versions or another architecture")
        for name, node in nodes.items():
            scale, zero_point = qparams[f"{QPARAMS_PREFIX}{name}.scale"], qparams[f"{QPARAMS_PREFIX}{name}.zero_point"]
            args: Any = node.args
            quant_min, quant_max = args[3], args[4]
            if type(scale) is not float or not math.isfinite(scale) or scale <= 0:
                raise CodecError(f"quantization point '{name}': scale {scale!r} is not a finite number > 0")
            if type(zero_point) is not int or not quant_min <= zero_point <= quant_max:
                raise CodecError(f"quantization point '{name}': zero point {zero_point!r} is outside "
                                 f"[{quant_min}, {quant_max}]")
            node.args = (node.args[0], scale, zero_point, *node.args[3:])
        cast(torch.fx.GraphModule, model).recompile()
        state_dicts.load_strict(model, {key: value for key, value in state.items() if not key.startswith(QPARAMS_PREFIX)})


# Loggers through which torch.export explains a failure at length; zoo says it in one line instead.
EXPORT_LOGGERS = ("torch.fx.experimental.symbolic_shapes", "torch._dynamo", "torch.export", "torch._export")


@contextlib.contextmanager
def _quiet_export_logs():
    """torch.export logs a failure, and prints the graph it got so far to stderr; keep both off the terminal."""
    loggers = [logging.getLogger(name) for name in EXPORT_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _export(model: nn.Module, example_inputs: tuple) -> nn.Module:
    batch = torch.export.Dim("batch", min=1, max=65536)
    try:
        with warnings.catch_warnings(), _quiet_export_logs():
            warnings.simplefilter("ignore")
            return torch.export.export(model, example_inputs, dynamic_shapes=({0: batch},)).module()
    except Exception as exc:  # torch.export raises many types; all mean the same to the user
        raise IncompatibleError(f"{type(model).__name__} cannot go through backend 'pt2e': torch.export cannot "
                                f"export it ({type(exc).__name__}: {_first_line(exc)})") from None


def _train_eval(model: nn.Module) -> nn.Module:
    """Let ``model.train()``/``eval()`` switch an exported graph's batch norm and dropout, returning the model as
    nn.Module's do (torchao's own ``allow_exported_model_train_eval`` returns None, which chained calls trip on)."""
    import types

    def train(self, mode: bool = True):
        (pt2e.move_exported_model_to_train if mode else pt2e.move_exported_model_to_eval)(self)
        for module in self.modules():
            module.training = mode
        return self

    model.train = types.MethodType(train, model)  # type: ignore[method-assign]
    model.eval = types.MethodType(lambda self: self.train(False), model)  # type: ignore[method-assign]
    return model


def _per_tensor_nodes(model: nn.Module) -> Sequence[torch.fx.Node]:
    graph: Any = model.graph
    return [node for node in graph.nodes if node.op == "call_function" and node.target in PER_TENSOR_OPS]


def _drop_unused_attributes(model: nn.Module) -> None:
    """convert_pt2e keeps the float weights it folded into int8 constants; keep only what the graph reads."""
    graph: Any = model.graph
    used = {node.target for node in graph.nodes if node.op == "get_attr"}
    for name, _ in [*model.named_parameters(), *model.named_buffers()]:
        if name not in used:
            owner, _, attribute = name.rpartition(".")
            delattr(model.get_submodule(owner) if owner else model, attribute)
    cast(torch.fx.GraphModule, model).delete_all_unused_submodules()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
