"""zoo: a plugin-based model zoo and quantized-model registry for PyTorch.

The plugin API is importable from here: ``hookimpl`` and the spec types a hook
registers, and every error zoo raises (``zoo.core.errors``). Importing zoo does not
import torch.
"""

from zoo.api import load
from zoo.core.errors import (
    AmbiguousReferenceError,
    BadReferenceError,
    CodecError,
    DatasetUnavailableError,
    DownloadError,
    HubAuthError,
    HubError,
    HubNotFoundError,
    HubUnreachableError,
    IncompatibleError,
    IntegrityError,
    MissingPluginError,
    NameInUseError,
    NoWeightsError,
    NonFiniteError,
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
from zoo.core.specs import BackendSpec, DatasetSpec, FusionPattern, KnownWeights, ModelSpec, ModuleType, Observer, Preset

__version__ = "0.1.0"

__all__ = [
    "AmbiguousReferenceError",
    "BackendSpec",
    "BadReferenceError",
    "CodecError",
    "DatasetSpec",
    "DatasetUnavailableError",
    "DownloadError",
    "FusionPattern",
    "HubAuthError",
    "HubError",
    "HubNotFoundError",
    "HubUnreachableError",
    "IncompatibleError",
    "IntegrityError",
    "KnownWeights",
    "MissingPluginError",
    "ModelSpec",
    "ModuleType",
    "NameInUseError",
    "NoWeightsError",
    "NonFiniteError",
    "Observer",
    "PluginCallError",
    "PluginError",
    "Preset",
    "SchemaVersionError",
    "SettingError",
    "StorageError",
    "UnknownNameError",
    "WeightsFileError",
    "ZooError",
    "hookimpl",
    "hookspec",
    "load",
]
