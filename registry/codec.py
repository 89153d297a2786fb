"""Quantized state dicts as safetensors plus JSON: no Python object is serialized or revived.

torch's int8 state dicts hold values safetensors cannot store directly:
quantized tensors, packed Linear parameters (a ``(qweight, bias)`` tuple beside
a ``torch.dtype``), dynamic LSTM cell parameters (TorchScript objects),
Python scalars and None. ``encode`` splits each of them into plain tensors plus
a JSON description; ``decode`` rebuilds exactly the same state dict from them,
using only fixed tables of dtypes, quantization schemes and rebuilders.

On-disk layout (readable without zoo: an 8-byte little-endian header length,
the JSON header, then the raw tensor bytes, as in every safetensors file)::

    __metadata__ (string values only)
      format           "zoo-int8-safetensors"
      codec_version    "1"; a reader refuses versions newer than its own
      layout           JSON list, one entry per state-dict key, in order:
                       {"key": "<state-dict key>", "kind": ..., ...}
      module_metadata  JSON object: the state dict's ``_metadata`` (module
                       prefix -> {"version": n}), which quantized modules read
                       to interpret their keys when loading
      <anything else>  the caller's metadata, verbatim
    tensors
      "<key>"          a plain tensor value, under its own key
      "<key>/<path>"   the parts of a composite value; <path> is the item
                       index in a tuple/list, or int_repr / scales /
                       zero_points for a quantized tensor, joined with "/"

Entry kinds (an item of a tuple, list or object state is an entry without "key"):

    tensor         {"tensor": name}
    qtensor        {"dtype": "qint8"|"quint8"|"qint32", "qscheme": ..., "int_repr": name}
                   plus, per tensor: "scale" (number) and "zero_point" (int);
                   per channel: "scales" (float64 tensor; float32 for
                   per_channel_affine_float_qparams), "zero_points" (int64
                   tensor; float32 for float qparams) and "axis" (int).
                   The integer data is the int8/uint8/int32 tensor of int_repr().
    dtype          {"name": "qint8"}          a torch.dtype
    none           {}
    bool/int/str   {"value": ...}
    float          {"value": number, or "nan" / "inf" / "-inf"}
    size           {"value": [ints]}          a torch.Size
    tuple/list     {"items": [entries]}
    script_object  {"class": qualified name, "state": entry}   a TorchScript
                   object (packed Linear weights, LSTM cell parameters), stored
                   as its __getstate__() and rebuilt by the op that makes it

Every tensor keeps its own dtype and shape in the safetensors header. The
header's keys are written sorted, so the same state dict gives the same bytes.
Decoding packs LSTM weights, and loading packs Linear ones, for torch's current
quantized engine: do both under the model's engine (the backend's ``engine``).
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, cast

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from zoo.core.errors import CodecError

CODEC_VERSION = 1
FORMAT = "zoo-int8-safetensors"

FORMAT_KEY = "format"
VERSION_KEY = "codec_version"
LAYOUT_KEY = "layout"
MODULE_METADATA_KEY = "module_metadata"
RESERVED_KEYS = (FORMAT_KEY, VERSION_KEY, LAYOUT_KEY, MODULE_METADATA_KEY)

# The only dtypes a file may name; a name outside this table is refused, never looked up on torch.
DTYPES: dict[str, torch.dtype] = {
    name: getattr(torch, name)
    for name in (
        "float64", "float32", "float16", "bfloat16",
        "int64", "int32", "int16", "int8", "uint8", "bool",
        "qint8", "quint8", "qint32", "quint4x2", "quint2x4",
    )
    if hasattr(torch, name)
}
DTYPE_NAMES = {dtype: name for name, dtype in DTYPES.items()}

# A quantized dtype -> the integer dtype of its int_repr(). quint4x2/quint2x4 pack
# two or four values per byte, which torch cannot rebuild from int_repr().
INT_STORAGE = {torch.qint8: torch.int8, torch.quint8: torch.uint8, torch.qint32: torch.int32}

# torch records symmetric observers' tensors as affine: these are all a quantized tensor reports.
PER_TENSOR = "per_tensor_affine"
PER_CHANNEL = ("per_channel_affine", "per_channel_affine_float_qparams")

LINEAR_PACKED = "__torch__.torch.classes.quantized.LinearPackedParamsBase"
CELL_PARAMS = "__torch__.torch.classes.rnn.CellParamsBase"

NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


# --------------------------------------------------------------------- encode


def encode(state_dict: Mapping[str, Any], metadata: Mapping[str, str] | None = None) -> bytes:
    """The safetensors bytes of ``state_dict``; the same state dict always gives the same bytes."""
    tensors = _TensorNames()
    layout = [_layout_entry(key, value, tensors) for key, value in state_dict.items()]
    header = {
        FORMAT_KEY: FORMAT,
        VERSION_KEY: str(CODEC_VERSION),
        LAYOUT_KEY: _dumps(layout),
        MODULE_METADATA_KEY: _dumps(_module_metadata(state_dict)),
    }
    header.update(_caller_metadata(metadata))
    try:
        data = save_tensors(tensors.by_name, metadata=header)
    except (SafetensorError, ValueError, TypeError, RuntimeError) as exc:
        raise CodecError(f"safetensors cannot store this state dict: {_first_line(exc)}") from None
    return _canonical_header(data)


def _layout_entry(key: str, value: Any, tensors: _TensorNames) -> dict[str, Any]:
    if not isinstance(key, str):
        raise CodecError(f"state-dict keys must be strings, not {type(key).__name__} ({key!r})")
    return {"key": key, **_encode_value(value, key, (), tensors)}


class _TensorNames:
    """The tensors going into the file, each under a name derived from its state-dict key."""

    def __init__(self) -> None:
        self.by_name: dict[str, torch.Tensor] = {}

    def add(self, key: str, path: tuple[str, ...], tensor: torch.Tensor) -> str:
        name = "/".join((key, *path))
        if name in self.by_name or name == "__metadata__":
            raise CodecError(f"cannot encode '{key}': tensor name '{name}' is already taken by another key")
        # A private contiguous copy: safetensors refuses tensors that share memory (tied weights, views).
        self.by_name[name] = tensor.detach().to("cpu", copy=True).contiguous()
        return name


def _encode_value(value: Any, key: str, path: tuple[str, ...], tensors: _TensorNames) -> dict[str, Any]:
    if isinstance(value, torch.Tensor):
        if value.is_quantized:
            return _encode_qtensor(value, key, path, tensors)
        return {"kind": "tensor", "tensor": tensors.add(key, path, value)}
    if isinstance(value, torch.dtype):
        if value not in DTYPE_NAMES:
            raise CodecError(f"cannot encode '{key}': dtype {value} is not one zoo stores")
        return {"kind": "dtype", "name": DTYPE_NAMES[value]}
    if isinstance(value, torch.Size):
        return {"kind": "size", "value": list(value)}
    if isinstance(value, torch.ScriptObject):
        return _encode_script_object(value, key, path, tensors)
    if type(value) in (tuple, list):  # exact types: a namedtuple would come back as a plain tuple
        items = [_encode_value(item, key, (*path, str(i)), tensors) for i, item in enumerate(value)]
        return {"kind": type(value).__name__, "items": items}
    return _encode_scalar(value, key)


def _encode_scalar(value: Any, key: str) -> dict[str, Any]:
    if value is None:
        return {"kind": "none"}
    for kind in (bool, int, str):  # exact types: True must not come back as 1
        if type(value) is kind:
            return {"kind": kind.__name__, "value": value}
    if type(value) is float:
        return {"kind": "float", "value": _float_to_json(value)}
    raise CodecError(f"cannot encode '{key}': values of type {type(value).__name__} are not supported")


def _encode_qtensor(value: torch.Tensor, key: str, path: tuple[str, ...], tensors: _TensorNames) -> dict[str, Any]:
    if value.dtype not in INT_STORAGE:
        raise CodecError(f"cannot encode '{key}': quantized dtype {value.dtype} is not supported")
    qscheme = str(value.qscheme()).removeprefix("torch.")
    entry: dict[str, Any] = {
        "kind": "qtensor",
        "dtype": DTYPE_NAMES[value.dtype],
        "qscheme": qscheme,
        "int_repr": tensors.add(key, (*path, "int_repr"), value.int_repr()),
    }
    if qscheme == PER_TENSOR:
        check_per_tensor(key, value.dtype, value.q_scale(), value.q_zero_point())
        entry.update(scale=_float_to_json(value.q_scale()), zero_point=value.q_zero_point())
    elif qscheme in PER_CHANNEL:
        check_per_channel(key, value.dtype, qscheme, tuple(value.shape), value.q_per_channel_scales(),
                          value.q_per_channel_zero_points(), value.q_per_channel_axis())
        entry.update(
            scales=tensors.add(key, (*path, "scales"), value.q_per_channel_scales()),
            zero_points=tensors.add(key, (*path, "zero_points"), value.q_per_channel_zero_points()),
            axis=value.q_per_channel_axis(),
        )
    else:
        raise CodecError(f"cannot encode '{key}': quantization scheme {qscheme} is not supported")
    return entry


def _encode_script_object(value: torch.ScriptObject, key: str, path: tuple[str, ...],
                          tensors: _TensorNames) -> dict[str, Any]:
    class_name = value._type().qualified_name()
    if class_name not in SCRIPT_OBJECTS:
        raise CodecError(f"cannot encode '{key}': TorchScript object {class_name} is not supported")
    state, _ = cast(tuple, value.__getstate__())  # (state, class name)
    if class_name == CELL_PARAMS and state[0] not in CELL_PARAMS_KINDS:
        raise CodecError(f"cannot encode '{key}': {state[0]} RNN cell parameters are not supported")
    return {"kind": "script_object", "class": class_name,
            "state": _encode_value(state, key, (*path, "state"), tensors)}


def _module_metadata(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    return dict(getattr(state_dict, "_metadata", None) or {})


def _caller_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    metadata = dict(metadata or {})
    for name, value in metadata.items():
        if name in RESERVED_KEYS:
            raise CodecError(f"metadata key '{name}' is reserved by zoo's codec")
        if not isinstance(name, str) or not isinstance(value, str):
            raise CodecError(f"metadata must map strings to strings; got {name!r}: {type(value).__name__}")
    return metadata


def _dumps(value: Any) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise CodecError(f"cannot describe the state dict in JSON: {exc}") from None


def _float_to_json(value: float) -> float | str:
    # Strict JSON has no NaN or infinity; repr() of a finite float reads back to the same bits.
    return value if math.isfinite(value) else repr(value)


def _canonical_header(data: bytes) -> bytes:
    """The same file with its JSON header's keys sorted.

    safetensors writes ``__metadata__`` from a Rust HashMap, whose order changes
    from run to run; sorting makes the bytes a function of the state dict alone.
    """
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + length])
    text = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)  # keep the tensor data 8-byte aligned, as safetensors does
    return len(text).to_bytes(8, "little") + text + data[8 + length:]


# --------------------------------------------------------------------- decode


def decode(data: bytes) -> dict[str, Any]:
    """The state dict ``encode`` was given, rebuilt from its bytes (with its ``_metadata``)."""
    metadata = _zoo_metadata(data)
    _check_version(metadata[VERSION_KEY])
    layout = _loads(metadata.get(LAYOUT_KEY), LAYOUT_KEY, list)
    module_metadata = _loads(metadata.get(MODULE_METADATA_KEY, "{}"), MODULE_METADATA_KEY, dict)
    try:
        tensors = load_tensors(bytes(data))
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise CodecError(f"not a readable safetensors file: {_first_line(exc)}") from None
    state: OrderedDict[str, Any] = OrderedDict()
    for entry in layout:
        key = _field(entry, "key", str, "?")
        if key in state:
            raise CodecError(f"malformed layout: '{key}' appears twice")
        state[key] = _decode_value(entry, key, tensors)
    # torch's quantized modules read their version from here to know which keys they stored.
    state._metadata = OrderedDict(module_metadata)  # type: ignore[attr-defined]
    return state


def read_metadata(data: bytes) -> dict[str, str]:
    """The caller's metadata of a zoo file, without reading its tensors."""
    return {k: v for k, v in _zoo_metadata(data).items() if k not in RESERVED_KEYS}


def _zoo_metadata(data: bytes) -> dict[str, str]:
    metadata = _safetensors_header(data).get("__metadata__") or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise CodecError("not a zoo model file: its safetensors metadata is not a map of strings")
    if metadata.get(FORMAT_KEY) != FORMAT:
        found = f"format '{metadata[FORMAT_KEY]}'" if FORMAT_KEY in metadata else "no format"
        raise CodecError(f"not a zoo model file: its safetensors metadata has {found}, not '{FORMAT}'")
    if VERSION_KEY not in metadata:
        raise CodecError("not a zoo model file: its metadata has no codec_version")
    return metadata


def _safetensors_header(data: bytes) -> dict[str, Any]:
    if len(data) < 8:
        raise CodecError(f"not a safetensors file: only {len(data)} bytes")
    length = int.from_bytes(data[:8], "little")
    if length > len(data) - 8:
        raise CodecError(f"not a safetensors file, or a truncated one: header of {length} bytes "
                         f"announced, {len(data) - 8} present")
    try:
        header = json.loads(bytes(data[8:8 + length]))
    except (UnicodeDecodeError, ValueError):
        raise CodecError("not a safetensors file: its header is not JSON") from None
    if not isinstance(header, dict):
        raise CodecError("not a safetensors file: its header is not a JSON object")
    return header


def _check_version(text: str) -> None:
    try:
        version = int(text)
    except ValueError:
        raise CodecError(f"unreadable codec version {text!r}") from None
    if version > CODEC_VERSION:
        raise CodecError(f"written by a newer zoo (codec version {version}); "
                         f"this zoo reads up to version {CODEC_VERSION}: upgrade zoo")
    if version < 1:
        raise CodecError(f"unknown codec version {version}")


def _loads(text: str | None, name: str, expected: type) -> Any:
    if text is None:
        raise CodecError(f"zoo model file without its '{name}' metadata")
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise CodecError(f"malformed '{name}' metadata: {exc}") from None
    if not isinstance(value, expected):
        raise CodecError(f"malformed '{name}' metadata: expected a JSON {expected.__name__}")
    return value


def _decode_value(entry: Any, key: str, tensors: Mapping[str, torch.Tensor]) -> Any:
    kind = _field(entry, "kind", str, key)
    decoder = DECODERS.get(kind)
    if decoder is None:
        raise CodecError(f"layout entry for '{key}' has unknown kind '{kind}'")
    return decoder(entry, key, tensors)


def _decode_tensor(entry, key, tensors) -> torch.Tensor:
    return _tensor(entry, "tensor", key, tensors)


def _decode_qtensor(entry, key, tensors) -> torch.Tensor:
    dtype = _dtype(_field(entry, "dtype", str, key), key)
    qscheme = _field(entry, "qscheme", str, key)
    int_repr = _tensor(entry, "int_repr", key, tensors)
    if INT_STORAGE.get(dtype) != int_repr.dtype:
        raise CodecError(f"'{key}': integer data of dtype {int_repr.dtype} cannot hold a {dtype} tensor")
    try:
        if qscheme == PER_TENSOR:
            scale = _float_from_json(_field(entry, "scale", (int, float, str), key), key)
            zero_point = _field(entry, "zero_point", int, key)
            check_per_tensor(key, dtype, scale, zero_point)
            return torch._make_per_tensor_quantized_tensor(int_repr, scale, zero_point)
        if qscheme in PER_CHANNEL:
            scales, zero_points = _tensor(entry, "scales", key, tensors), _tensor(entry, "zero_points", key, tensors)
            axis = _field(entry, "axis", int, key)
            check_per_channel(key, dtype, qscheme, tuple(int_repr.shape), scales, zero_points, axis)
            return torch._make_per_channel_quantized_tensor(int_repr, scales, zero_points, axis)
    except RuntimeError as exc:
        raise CodecError(f"cannot rebuild quantized tensor '{key}': {_first_line(exc)}") from None
    raise CodecError(f"'{key}': unknown quantization scheme '{qscheme}'")


# The zero points a quantized dtype can hold.
ZERO_POINT_RANGE = {torch.quint8: (0, 255), torch.qint8: (-128, 127), torch.qint32: (-(2 ** 31), 2 ** 31 - 1)}


def check_per_tensor(key: str, dtype: torch.dtype, scale: float, zero_point: int) -> None:
    """A per-tensor scale is finite and > 0, its zero point within the dtype; CodecError naming ``key`` otherwise."""
    if not (math.isfinite(scale) and scale > 0):
        raise CodecError(f"'{key}': quantization scale {scale!r} is not a finite number > 0")
    low, high = ZERO_POINT_RANGE[dtype]
    if not low <= zero_point <= high:
        raise CodecError(f"'{key}': zero point {zero_point} is outside {DTYPE_NAMES[dtype]}'s range [{low}, {high}]")


def check_per_channel(key: str, dtype: torch.dtype, qscheme: str, shape: tuple[int, ...], scales: torch.Tensor,
                      zero_points: torch.Tensor, axis: int) -> None:
    """Per-channel parameters: an axis of the tensor, one finite scale > 0 and one in-range zero point per channel."""
    if not 0 <= axis < len(shape):
        raise CodecError(f"'{key}': per-channel axis {axis} is outside the tensor's {len(shape)} dimensions")
    channels = shape[axis]
    for name, values in (("scales", scales), ("zero points", zero_points)):
        if values.dim() != 1 or values.numel() != channels:
            raise CodecError(f"'{key}': {values.numel()} {name} of shape {list(values.shape)} for {channels} channels "
                             f"along axis {axis}")
    if not scales.is_floating_point() or not (torch.isfinite(scales).all() and (scales > 0).all()):
        raise CodecError(f"'{key}': per-channel scales must be finite numbers > 0")
    if qscheme == "per_channel_affine_float_qparams":
        if not (zero_points.is_floating_point() and torch.isfinite(zero_points).all()):
            raise CodecError(f"'{key}': float zero points must be finite numbers")
        return
    if zero_points.is_floating_point():
        raise CodecError(f"'{key}': zero points must be integers")
    low, high = ZERO_POINT_RANGE[dtype]
    if zero_points.numel() and not (low <= zero_points.min().item() and zero_points.max().item() <= high):
        raise CodecError(f"'{key}': zero points outside {DTYPE_NAMES[dtype]}'s range [{low}, {high}]")


def _decode_items(entry, key, tensors) -> list[Any]:
    items = _field(entry, "items", list, key)
    return [_decode_value(item, key, tensors) for item in items]


def _decode_script_object(entry, key, tensors) -> torch.ScriptObject:
    class_name = _field(entry, "class", str, key)
    rebuild = SCRIPT_OBJECTS.get(class_name)
    if rebuild is None:
        raise CodecError(f"'{key}': unknown TorchScript object {class_name}")
    state = _decode_value(_field(entry, "state", dict, key), key, tensors)
    try:
        return rebuild(state, key)
    except (RuntimeError, TypeError, ValueError, IndexError) as exc:
        raise CodecError(f"cannot rebuild {class_name} for '{key}': {_first_line(exc)}") from None


def _rebuild_linear_packed(state: tuple, key: str) -> torch.ScriptObject:
    weight, bias = state
    if not (isinstance(weight, torch.Tensor) and weight.dtype == torch.qint8):
        raise CodecError(f"'{key}': packed Linear weights must be a qint8 tensor")
    return torch.ops.quantized.linear_prepack(weight, bias)


def _rebuild_cell_params(state: tuple, key: str) -> torch.ScriptObject:
    kind, biases, _doubles, longs, packed = state
    if kind not in CELL_PARAMS_KINDS:
        raise CodecError(f"'{key}': {kind} RNN cell parameters are not supported")
    reduce_range = bool(longs[0])
    return torch.ops.quantized.make_quantized_cell_params_dynamic(*packed, *biases, reduce_range)


def _tensor(entry: Mapping, field: str, key: str, tensors: Mapping[str, torch.Tensor]) -> torch.Tensor:
    name = _field(entry, field, str, key)
    if name not in tensors:
        raise CodecError(f"layout entry for '{key}' refers to tensor '{name}', which the file does not contain")
    return tensors[name]


def _field(entry: Any, name: str, expected: type | tuple[type, ...], key: str) -> Any:
    value = entry.get(name) if isinstance(entry, dict) else None
    # bool is an int to isinstance; no field here is meant to be one.
    if not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool):
        raise CodecError(f"malformed layout entry for '{key}': '{name}' is missing or not "
                         f"{getattr(expected, '__name__', expected)}")
    return value


def _dtype(name: str, key: str) -> torch.dtype:
    if name not in DTYPES:
        raise CodecError(f"'{key}': unknown dtype '{name}'")
    return DTYPES[name]


def _float_from_json(value: int | float | str, key: str) -> float:
    if isinstance(value, str):
        if value not in NON_FINITE:
            raise CodecError(f"'{key}': {value!r} is not a number")
        return NON_FINITE[value]
    return float(value)


def _scalar(expected: type) -> Callable[[Mapping, str, Mapping], Any]:
    return lambda entry, key, tensors: _field(entry, "value", expected, key)


DECODERS: dict[str, Callable[[Mapping, str, Mapping[str, torch.Tensor]], Any]] = {
    "tensor": _decode_tensor,
    "qtensor": _decode_qtensor,
    "dtype": lambda entry, key, tensors: _dtype(_field(entry, "name", str, key), key),
    "none": lambda entry, key, tensors: None,
    "bool": _scalar(bool),
    "int": _scalar(int),
    "str": _scalar(str),
    "float": lambda entry, key, tensors: _float_from_json(_field(entry, "value", (int, float, str), key), key),
    "size": lambda entry, key, tensors: torch.Size(_field(entry, "value", list, key)),
    "tuple": lambda entry, key, tensors: tuple(_decode_items(entry, key, tensors)),
    "list": _decode_items,
    "script_object": _decode_script_object,
}

# The TorchScript classes a file may hold, each rebuilt by the op that makes it.
SCRIPT_OBJECTS: dict[str, Callable[[Any, str], torch.ScriptObject]] = {
    LINEAR_PACKED: _rebuild_linear_packed,
    CELL_PARAMS: _rebuild_cell_params,
}
# What nn.quantized.dynamic LSTM/GRU hold with qint8 weights, the only dynamic dtype zoo makes.
CELL_PARAMS_KINDS = ("quantized_dynamic",)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

