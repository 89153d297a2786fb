"""Float and int8 state dicts: checked before they are used, loaded strictly, and digested.

Everything here takes a ``Mapping[str, Any]`` of parameter and buffer names to
tensors (int8 models may also hold packed parameters: TorchScript objects and
tuples) and raises one of zoo's errors naming the first offending key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from zoo.core.errors import CodecError, IncompatibleError, NonFiniteError


def state_dict_digest(state_dict: Mapping) -> str:
    """sha256 of the float state dict in safetensors form: the same tensors give the same digest."""
    from safetensors.torch import save

    tensors = {k: v.detach().contiguous() for k, v in state_dict.items()}
    return hashlib.sha256(save(tensors)).hexdigest()


def check_state_dict(state: Any, label: str, tensors_only: bool) -> None:
    """Refuse what a weights loader returned unless it is a state dict: a mapping of names to tensors (with
    ``tensors_only`` false, a quantized model's packed entries may be other values).

    Raises:
        IncompatibleError: naming ``label`` and what was returned instead.
    """
    import torch

    if not isinstance(state, Mapping):
        raise IncompatibleError(f"{label}: the loader returned {type(state).__name__}, not a state dict "
                                "(a mapping of tensor names to tensors)")
    for key, value in state.items():
        if not isinstance(key, str):
            raise IncompatibleError(f"{label}: the state dict has a key of type {type(key).__name__}: {key!r:.60}")
        if tensors_only and not isinstance(value, torch.Tensor):
            raise IncompatibleError(f"{label}: '{key:.80}' holds {type(value).__name__}, not a tensor")


def check_finite_weights(state: Mapping, label: str) -> None:
    """Refuse float weights holding NaN or infinity, naming the first such tensor: they would quantize to garbage
    (or make an observer's histogram fail) far from where the damage was done."""
    import torch

    for key, value in state.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not torch.isfinite(value).all():
            bad = (~torch.isfinite(value)).sum().item()
            raise NonFiniteError(f"{label}: tensor '{key}' holds {bad} NaN or infinite value(s) of {value.numel()}; "
                           "zoo does not quantize such weights")


def load_strict(model, state: Mapping[str, Any]) -> None:
    """Load ``state`` into ``model`` (a ``torch.nn.Module``) strictly: the same keys, and for each the same type, shape
    and dtype.

    Raises:
        CodecError: naming the first key that is missing, extra or of another shape or dtype.
    """
    problem = _first_mismatch(model.state_dict(), state)
    if problem:
        raise CodecError(problem)
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:
        raise CodecError(f"the state dict does not fit the model: {_first_line(exc)}") from None


def _first_mismatch(expected: Mapping[str, Any], state: Mapping[str, Any]) -> str | None:
    for key in expected:
        if key not in state:
            return f"the state dict lacks '{key}', which the model needs"
    for key in state:
        if key not in expected:
            return f"the state dict has '{key}', which the model does not have"
    for key, value in state.items():
        want, got = _signature(expected[key]), _signature(value)
        if want != got:
            return f"'{key}' is {_describe(got)} but the model expects {_describe(want)}"
    return None


def _signature(value: Any) -> Any:
    """What must agree between a stored value and the model's: types, shapes and dtypes, not numbers."""
    import torch

    if isinstance(value, torch.Tensor):
        return ("tensor", tuple(value.shape), value.dtype)
    if isinstance(value, torch.ScriptObject):
        state: Any = value.__getstate__()  # (state, class name)
        return ("script_object", _signature(state[0]))
    if isinstance(value, (tuple, list)):
        return (type(value).__name__, tuple(_signature(item) for item in value))
    return (type(value).__name__,)


def _describe(signature: Any) -> str:
    if signature[0] == "tensor":
        return f"a {str(signature[2]).removeprefix('torch.')} tensor of shape {list(signature[1])}"
    if signature[0] in ("tuple", "list") and len(signature) > 1:
        return f"a {signature[0]} of {len(signature[1])} ({', '.join(_describe(s) for s in signature[1])})"
    if signature[0] == "script_object":
        return f"TorchScript object of {_describe(signature[1])}"
    return f"a {signature[0]}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
