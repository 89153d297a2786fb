"""zoo: a plugin-based model zoo and quantized-model registry for PyTorch.

The plugin API is importable from here: ``hookimpl`` and the spec types a hook
registers. Importing zoo does not import torch.
"""

from zoo.api import load
from zoo.errors import DatasetUnavailableError, IncompatibleError, UnknownNameError, ZooError
from zoo.hookspecs import hookimpl, hookspec
from zoo.specs import BackendSpec, DatasetSpec, FusionPattern, KnownWeights, ModelSpec, ModuleType, Observer, Preset

__version__ = "0.1.0"

__all__ = [
    "BackendSpec",
    "DatasetSpec",
    "DatasetUnavailableError",
    "FusionPattern",
    "IncompatibleError",
    "KnownWeights",
    "ModelSpec",
    "ModuleType",
    "Observer",
    "Preset",
    "UnknownNameError",
    "ZooError",
    "hookimpl",
    "hookspec",
    "load",
]
