"""The Python API: a registry model as an nn.Module, or ready to run in a faster runtime, in one call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class RuntimeModel:
    """A registry model prepared in a runtime other than eager PyTorch.

    Call it with a float32 tensor of shape (batch, channels, height, width); it
    returns the float32 logits, shape (batch, classes). ``module`` is the
    nn.Module it was made from (what ``runtime="eager"`` returns), ``runtime``
    the runtime's name, ``card`` the model's card.
    """

    runtime: str
    module: Any
    card: dict
    _run: Any

    def __call__(self, images):
        return self._run(images)


def load(reference: str, registry: str | None = None, runtime: str = "eager", threads: int | None = None):
    """Load ``NAME`` (its latest version) or ``NAME@DIGEST`` from the local registry.

    The module tree is rebuilt through the architecture's plugin and its
    backend, and the weights are decoded from safetensors; nothing is
    unpickled. For an int8 model, the backend's engine is set for the process
    (torch.ao's quantized engine), as torchvision does for its quantized models.

    ``runtime``: ``"eager"`` (default) returns the nn.Module in eval mode;
    ``"torchscript"``, ``"inductor"``, ``"onnxruntime"`` or ``"openvino"`` return
    a ``RuntimeModel`` running it there with ``threads`` threads (default:
    torch's current count); ``"fastest"`` picks the fastest int8 runtime the
    card recorded, if it can run here, else eager.

    Raises UnknownNameError (no such model or runtime), IncompatibleError (a
    runtime that is not installed, saying which extra to install, or that
    cannot run this model), IntegrityError (a file that does not match its card).
    """
    import contextlib
    import functools

    import torch

    from zoo import runtimes
    from zoo.core.errors import UnknownNameError
    from zoo.host.plugins import get_catalog
    from zoo_registry.config import backend_of
    from zoo_registry.loading import load_reference
    from zoo_registry.store import Registry

    if runtime not in (*runtimes.NAMES, "fastest"):
        raise UnknownNameError("runtime", runtime, (*runtimes.NAMES, "fastest"))
    model, config, card = load_reference(reference, Registry(registry))
    backend_name = backend_of(config)
    engine = contextlib.nullcontext
    subject = runtimes.Subject()
    if backend_name:
        backend = get_catalog().backend(backend_name)
        backend.set_engine(config.get("engine"))
        engine = functools.partial(backend.engine, config.get("engine"))
        subject = runtimes.Subject(backend_name, config["preset"]["method"], config.get("engine"))
    if runtime == "fastest":
        runtime = _fastest_here(card, subject)
    if runtime == "eager":
        return model
    chosen = runtimes.get(runtime)
    if not chosen.supports(subject):
        from zoo.core.errors import IncompatibleError

        raise IncompatibleError(f"runtime '{runtime}' does not run {subject.describe()} models")
    size, channels = config["image_size"], config["in_channels"]
    example = torch.randn(1, channels, size, size, generator=torch.Generator().manual_seed(0))
    run = chosen.prepare(model, subject, example, threads or torch.get_num_threads(), engine)
    return RuntimeModel(runtime, model, card, run)


def _fastest_here(card: dict, subject) -> str:
    from zoo import runtimes
    side = "int8" if card.get("kind") == "int8" else "float"
    recorded = ((card.get("runtimes") or {}).get("fastest") or {}).get(side)
    if recorded and recorded != "eager":
        usable, _ = runtimes.select([recorded], subject)
        if usable:
            return recorded
    return "eager"
