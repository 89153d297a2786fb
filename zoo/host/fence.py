"""Fencing plugin code: whatever a plugin's callable raises reaches the user as one line naming the plugin.

The catalog wraps every callable a plugin registers (a model's ``build`` and
``fuse``, a dataset's ``build`` and ``count_classes`` and the items of the
dataset it returns, a weights ``load`` and ``metrics``, a backend's methods)
when the plugin registers it, so no call site can forget. A ``ZooError`` a
plugin raises on purpose passes through unchanged; any other exception becomes
a ``PluginCallError``, e.g.::

    plugin 'acme': build of model 'tiny' raised ValueError: bad width

Importing this module does not import torch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Callable
from typing import Any

from zoo.core.errors import PluginCallError, ZooError

# Ctrl-C still stops zoo; a ZooError is a message a plugin meant to show as written.
PASSED_THROUGH = (ZooError, KeyboardInterrupt, GeneratorExit)


@contextlib.contextmanager
def fence(plugin: str, what: str):
    """Inside, anything but a ZooError or Ctrl-C becomes ``PluginCallError`` ("plugin 'p': <what> raised …").

    A SystemExit raised by plugin code is fenced too: it must not end zoo silently with the plugin's exit code.
    """
    try:
        yield
    except PASSED_THROUGH:
        raise
    except BaseException as exc:
        raise PluginCallError(plugin, what, exc) from exc


class Fenced:
    """A plugin's callable, called inside ``fence(plugin, what)``. A small object rather than a
    ``functools.wraps`` closure: the catalog makes thousands of them (every timm and torchvision model) each time
    zoo lists what is installed."""

    __zoo_fenced__ = True
    __slots__ = ("__wrapped__", "plugin", "what")

    def __init__(self, function: Callable, plugin: str, what: str):
        self.__wrapped__ = function
        self.plugin = plugin
        self.what = what

    def __call__(self, *args, **kwargs):
        with fence(self.plugin, self.what):
            return self.__wrapped__(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<{self.what} of plugin '{self.plugin}'>"


def fenced(function: Callable, plugin: str, what: str) -> Callable:
    """``function``, called inside ``fence(plugin, what)``."""
    if getattr(function, "__zoo_fenced__", False):
        return function
    return Fenced(function, plugin, what)


class FencedDataset:
    """A map-style dataset whose items come from plugin code: a failing item names the plugin and the index."""

    def __init__(self, inner: Any, plugin: str, dataset: str):
        self._inner = inner
        self._plugin = plugin
        self._dataset = dataset

    def __len__(self) -> int:
        with fence(self._plugin, f"length of dataset '{self._dataset}'"):
            return len(self._inner)

    def __getitem__(self, index):
        what = f"item {index} of dataset '{self._dataset}'"
        with fence(self._plugin, what):
            item = self._inner[index]
        label = item[1] if isinstance(item, (tuple, list)) and len(item) == 2 else None
        if label is None or not _is_class_index(label):
            raise PluginCallError(self._plugin, what, TypeError(
                f"returned {_described(item)}; zoo expects a pair (image, class index), the index an int >= 0"))
        return item

    def __getattr__(self, name: str):
        # Attributes a caller reads from the dataset itself (classes, root...) stay reachable.
        return getattr(self._inner, name)


def _is_class_index(label) -> bool:
    if isinstance(label, bool):
        return False
    if isinstance(label, int):
        return label >= 0
    # A 0-d integer tensor (or numpy scalar) is a class index too; checked without importing torch.
    item = getattr(label, "item", None)
    dtype = str(getattr(label, "dtype", ""))
    return callable(item) and getattr(label, "ndim", 1) == 0 and "int" in dtype and item() >= 0


def _described(value) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


class _ReturnsModule(Fenced):
    """``build``, checked to return an ``nn.Module`` (torch is imported when it is called, not before); the fence
    itself is the catalog's, around it."""

    __slots__ = ()

    def __init__(self, build: Callable, plugin: str, model: str):
        super().__init__(build, plugin, f"build of {model}")

    def __call__(self, *args, **kwargs):
        from torch import nn

        built = self.__wrapped__(*args, **kwargs)
        if not isinstance(built, nn.Module):
            raise PluginCallError(self.plugin, self.what, TypeError(
                f"returned {_described(built)}, not a torch.nn.Module"))
        return built


def _returns_module(build: Callable, plugin: str, model: str) -> Callable:
    return _ReturnsModule(build, plugin, model)


class FencedBackend:
    """A backend object from a plugin, its methods fenced; attributes pass through."""

    def __init__(self, inner: Any, plugin: str, backend: str):
        self._inner = inner
        self._plugin = plugin
        self._backend = backend

    def __getattr__(self, name: str):
        value = getattr(self._inner, name)
        if callable(value) and not name.startswith("__"):
            return fenced(value, self._plugin, f"{name} of backend '{self._backend}'")
        return value


def fence_spec(spec: Any, plugin: str) -> Any:
    """A copy of a registered spec whose callables are fenced in ``plugin``'s name; specs without callables as is."""
    from zoo.core.specs import BackendSpec, DatasetSpec, KnownWeights, ModelSpec

    if isinstance(spec, ModelSpec):
        model = f"model '{spec.name}'"
        return _replaced(
            spec,
            build=_returns_module(fenced(spec.build, plugin, f"build of {model}"), plugin, model),
            fuse=None if spec.fuse is None else fenced(spec.fuse, plugin, f"fuse of {model}"),
            weights=tuple(fence_weights(w, plugin, model) for w in spec.weights),
        )
    if isinstance(spec, DatasetSpec):
        dataset = f"dataset '{spec.name}'"
        build = fenced(spec.build, plugin, f"build of {dataset}")

        @functools.wraps(spec.build)
        def build_fenced_items(*args, **kwargs):
            return FencedDataset(build(*args, **kwargs), plugin, spec.name)

        build_fenced_items.__zoo_fenced__ = True  # type: ignore[attr-defined]
        count = spec.count_classes
        return dataclasses.replace(
            spec, build=build_fenced_items,
            count_classes=None if count is None else fenced(count, plugin, f"count_classes of {dataset}"),
            labels=fenced(spec.labels, plugin, f"labels of {dataset}") if callable(spec.labels) else spec.labels,
        )
    if isinstance(spec, BackendSpec):
        # load() stays as it is: the catalog tells a missing library (ImportError) from a failing plugin itself.
        check = spec.check_preset
        return dataclasses.replace(
            spec, check_preset=None if check is None else fenced(check, plugin, f"check_preset of backend "
                                                                                 f"'{spec.name}'"))
    if isinstance(spec, KnownWeights):
        return fence_weights(spec, plugin, "its model")
    return spec


def fence_weights(weights: Any, plugin: str, model: str) -> Any:
    label = f"weights '{weights.name}' of {model}"
    metrics = weights.metrics
    return _replaced(
        weights,
        load=fenced(weights.load, plugin, f"load of {label}"),
        metrics=fenced(metrics, plugin, f"metrics of {label}") if callable(metrics) else metrics,
    )


def _replaced(spec: Any, **changes: Any) -> Any:
    """``dataclasses.replace`` without running the spec's checks again (they passed when it was made, and the
    changes only wrap its callables): with thousands of specs (timm's), the checks doubled `zoo models`."""
    copy = object.__new__(type(spec))
    copy.__dict__.update(spec.__dict__, **changes)
    return copy


def running_model(plugin: str, model: str, phase: str):
    """``fence`` where the plugin's model runs (its forward during calibration, QAT or evaluation)."""
    return fence(plugin, f"model '{model}' during {phase}")
