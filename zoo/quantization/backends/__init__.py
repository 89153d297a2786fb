"""Backends: how a float model becomes an int8 model, and how that module tree is rebuilt for loading.

A backend is registered by a plugin (``register_backends``, a ``BackendSpec``)
and loaded only when a model goes through it. zoo's own are ``eager`` and
``fx`` (torch.ao.quantization, all of whose imports are in
``zoo.quantization.backends.torch_ao``) and ``pt2e`` (torchao's export-based flow, all of
whose imports are in ``zoo.quantization.backends.pt2e``). A preset names the backends it
works with; the pipeline, the registry loader and ``zoo.testing.check_model``
call only the methods below and never branch on a backend's name.

Importing this module does not import torch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from zoo.core.errors import IncompatibleError

# fuse(model, is_qat): fuses a float model in place, with its own fuse or the registered fusion patterns.
FuseFunction = Callable[[Any, bool], None]


class Backend:
    """The protocol a quantization backend implements; subclass it, or provide the same methods.

    Models are ``torch.nn.Module``s; ``example_inputs`` is a tuple holding one
    float32 tensor of shape (batch, channels, height, width). Every method that
    cannot handle a model raises ``IncompatibleError`` with a one-line message
    naming the model's class and the backend.
    """

    name: str = ""
    methods: Sequence[str] = ("static", "qat")

    def check(self, preset) -> None:
        """Raise ``IncompatibleError`` when ``preset``'s engine cannot run on this machine."""

    def engine(self, name: str | None) -> contextlib.AbstractContextManager:
        """A context in which models of engine ``name`` are built, loaded and run (torch.ao's quantized engine)."""
        return contextlib.nullcontext()

    def set_engine(self, name: str | None) -> None:
        """Make ``name`` the engine for the rest of the process, as torchvision does for its quantized models."""

    def adapt(self, preset) -> tuple[Any, list[str]]:
        """The preset as it should run on this CPU, and one note per change (recorded in the card)."""
        return preset, []

    def prepare(self, model, preset, example_inputs: tuple, fuse: FuseFunction):
        """A model with observers (``static``) or fake-quantizers (``qat``, in train mode) inserted.

        ``model`` is the float model; the backend may modify it in place and
        calls ``fuse`` if it needs the model fused first.
        """
        raise NotImplementedError

    def convert(self, prepared):
        """The int8 model from a prepared one that has been calibrated or trained, in eval mode."""
        raise NotImplementedError

    def quantize_dynamic(self, model, module_types: Sequence[type], example_inputs: tuple):
        """Weights of ``module_types`` quantized ahead, activations at run time."""
        raise IncompatibleError(f"backend '{self.name}' has no dynamic quantization")

    def freeze_observers(self, prepared) -> None:
        """QAT: stop updating quantization ranges."""

    def freeze_bn_stats(self, prepared) -> None:
        """QAT: stop updating batch-norm running statistics."""

    def state_dict(self, model) -> Mapping[str, Any]:
        """Everything that distinguishes this int8 model from its rebuilt skeleton, for the codec to store."""
        return model.state_dict()

    def load_state_dict(self, model, state: Mapping[str, Any]) -> None:
        """Load what ``state_dict`` returned into a skeleton of the same model; raise ``CodecError`` on mismatch."""
        from zoo import state_dicts
        state_dicts.load_strict(model, state)
