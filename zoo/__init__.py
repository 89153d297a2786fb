"""zoo: a plugin-based model zoo and quantized-model registry for PyTorch.

The Python API: ``zoo.quantize`` and ``zoo.train`` (make a model and record it),
``zoo.load`` (a registry model as an nn.Module or in a faster runtime),
``zoo.Registry`` and ``zoo.Context`` (the session: registry, plugins, progress),
``zoo.Card`` and ``zoo.ModelConfig`` (card.json and config.json, typed and read-only),
and ``zoo.testing.check_model`` for plugin authors. The plugin API: ``hookimpl``
and the spec types a hook registers, ``zoo.nn``, ``zoo.backends`` and
``zoo.checkpoints``. Every error zoo raises is a ``ZooError`` subclass exported
here. Importing zoo does not import torch.
"""

from typing import Any

from zoo.api import Made, load, quantize, train, transform
from zoo.core.errors import (
    AmbiguousReferenceError,
    BadReferenceError,
    CodecError,
    DatasetUnavailableError,
    DownloadError,
    HubAuthError,
    HubError,
    HubMetadataError,
    HubNotFoundError,
    HubUnreachableError,
    IncompatibleError,
    IntegrityError,
    MissingPluginError,
    NameInUseError,
    NonFiniteError,
    NoWeightsError,
    PluginCallError,
    PluginError,
    SchemaVersionError,
    SettingError,
    StorageError,
    UnknownNameError,
    WeightsFileError,
    ZooError,
)
from zoo.core.hookspecs import hookimpl, hookspec
from zoo.core.specs import (
    BackendSpec,
    DatasetSpec,
    FusionPattern,
    KnownWeights,
    ModelSpec,
    ModuleType,
    Observer,
    Preset,
)

__version__ = "0.1.0"

# Imported on first use, so that `import zoo` stays light.
_LAZY = {"Context": "zoo.context", "Registry": "zoo_registry.store", "Card": "zoo_registry.schema",
         "ModelConfig": "zoo_registry.schema"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'zoo' has no attribute '{name}'")


__all__ = [
    "AmbiguousReferenceError",
    "BackendSpec",
    "BadReferenceError",
    "Card",
    "CodecError",
    "Context",
    "DatasetSpec",
    "DatasetUnavailableError",
    "DownloadError",
    "FusionPattern",
    "HubAuthError",
    "HubError",
    "HubMetadataError",
    "HubNotFoundError",
    "HubUnreachableError",
    "IncompatibleError",
    "IntegrityError",
    "KnownWeights",
    "Made",
    "MissingPluginError",
    "ModelConfig",
    "ModelSpec",
    "ModuleType",
    "NameInUseError",
    "NoWeightsError",
    "NonFiniteError",
    "Observer",
    "PluginCallError",
    "PluginError",
    "Preset",
    "Registry",
    "SchemaVersionError",
    "SettingError",
    "StorageError",
    "UnknownNameError",
    "WeightsFileError",
    "ZooError",
    "hookimpl",
    "hookspec",
    "load",
    "quantize",
    "train",
    "transform",
]
