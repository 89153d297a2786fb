"""The hooks a zoo plugin can implement.

Each hook receives a ``register`` callback and calls it once per thing it adds,
so zoo validates every registration where it happens and can name the plugin
behind a bad one.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("zoo")
hookimpl = pluggy.HookimplMarker("zoo")


@hookspec
def register_module_types(register):
    """Allow module classes to be named by presets and fusion patterns: ``register(ModuleType(...))``."""


@hookspec
def register_backends(register):
    """Register quantization backends: ``register(BackendSpec(...))``."""


@hookspec
def register_models(register):
    """Register architectures: ``register(ModelSpec(...))``."""


@hookspec
def register_fusion_patterns(register):
    """Register module chains eager mode can fuse: ``register(FusionPattern(...))``."""


@hookspec
def register_presets(register):
    """Register quantization recipes: ``register(Preset(...))``."""


@hookspec
def register_datasets(register):
    """Register evaluation datasets: ``register(DatasetSpec(...))``."""
