"""The Python API: a registry model as an nn.Module in one call."""

from __future__ import annotations


def load(reference: str, registry: str | None = None):
    """Load ``NAME`` (its latest version) or ``NAME@DIGEST`` from the local registry, in eval mode.

    The module tree is rebuilt through the architecture's plugin and the
    weights are decoded from safetensors; nothing is unpickled. For an int8
    model, torch's quantized engine is set to the one it was made for, as
    torchvision does for its quantized models.
    """
    from zoo.plugins import get_catalog
    from zoo_registry.config import backend_of
    from zoo_registry.loading import load_reference
    from zoo_registry.store import Registry

    model, config, _ = load_reference(reference, Registry(registry))
    if backend_of(config):
        get_catalog().backend(backend_of(config)).set_engine(config.get("engine"))
    return model
