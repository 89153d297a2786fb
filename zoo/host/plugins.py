"""Finding plugins, loading each on its own, and collecting what they register.

Built-in plugins are entry points in the group ``zoo`` exactly like third-party
ones. Each is imported and registered separately, so one broken plugin is
reported by name instead of taking the others down (unless strict mode is on).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from zoo.core import hookspecs
from zoo.core.errors import IncompatibleError, PluginError, UnknownNameError, closest_match
from zoo.core.specs import BackendSpec, DatasetSpec, FusionPattern, ModelSpec, ModuleType, Preset
from zoo.host.fence import FencedBackend, fence_spec
from zoo.host.model_files import PLUGIN_PREFIX as MODEL_FILE_PLUGIN
from zoo.host.model_files import PREFIX as MODEL_FILE_PREFIX

ENTRY_POINT_GROUP = "zoo"
# The distribution whose entry points are the built-in plugins.
OWN_DISTRIBUTION = "zoo"
# A comma-separated list of plugin names to load; set but empty loads none.
PLUGINS_ENV = "ZOO_PLUGINS"
# Any non-empty value other than 0 makes a failing plugin fatal.
STRICT_ENV = "ZOO_STRICT_PLUGINS"

# hook name -> (kind as users read it, the type a registration must have).
# Module types and backends come first: presets and fusion patterns are checked against them as they register.
HOOKS: dict[str, tuple[str, type]] = {
    "register_module_types": ("module type", ModuleType),
    "register_backends": ("backend", BackendSpec),
    "register_models": ("model", ModelSpec),
    "register_fusion_patterns": ("fusion pattern", FusionPattern),
    "register_presets": ("preset", Preset),
    "register_datasets": ("dataset", DatasetSpec),
}


@dataclass
class PluginReport:
    name: str
    package: str | None = None
    version: str | None = None
    hooks: list[str] = field(default_factory=list)
    registered: dict[str, list[str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "package": self.package,
            "version": self.version,
            "hooks": self.hooks,
            "registered": self.registered,
            "errors": self.errors,
        }


@dataclass
class Catalog:
    """Everything the loaded plugins registered, keyed by name."""

    module_types: dict[str, ModuleType] = field(default_factory=dict)
    backends: dict[str, BackendSpec] = field(default_factory=dict)
    models: dict[str, ModelSpec] = field(default_factory=dict)
    fusion_patterns: dict[str, FusionPattern] = field(default_factory=dict)
    presets: dict[str, Preset] = field(default_factory=dict)
    datasets: dict[str, DatasetSpec] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    owners: dict[tuple[str, str], str] = field(default_factory=dict)
    reports: dict[str, PluginReport] = field(default_factory=dict)
    loaded_backends: dict[str, Any] = field(default_factory=dict)
    # Architectures from the user's own Python files (zoo.host.model_files): name, function and sha256 of each.
    model_files: dict[str, dict[str, str]] = field(default_factory=dict)

    def _table(self, kind: str) -> dict[str, Any]:
        tables: dict[str, dict[str, Any]] = {
            "module type": self.module_types,
            "backend": self.backends,
            "model": self.models,
            "fusion pattern": self.fusion_patterns,
            "preset": self.presets,
            "dataset": self.datasets,
        }
        return tables[kind]

    def model(self, name: str) -> ModelSpec:
        name = self.aliases.get(name, name)
        if name not in self.models:
            raise UnknownNameError("model", name, self.models)
        return self.models[name]

    def preset(self, name: str) -> Preset:
        if name not in self.presets:
            raise UnknownNameError("preset", name, self.presets)
        return self.presets[name]

    def dataset(self, name: str) -> DatasetSpec:
        if name not in self.datasets:
            raise UnknownNameError("dataset", name, self.datasets)
        return self.datasets[name]

    def preset_backends(self, preset: Preset) -> list[str]:
        """The backends that can apply ``preset``: those it names, else every registered one with its engine and
        method, in registration order. The first is the default."""
        if preset.backends is not None:
            return list(preset.backends)
        return [name for name, spec in self.backends.items()
                if preset.engine in spec.engines and preset.method in spec.methods]

    def backend(self, name: str):
        """The backend object registered as ``name``, loaded on first use (see ``zoo.quantization.backends.Backend``).

        Raises:
            UnknownNameError: no plugin registered ``name``.
            IncompatibleError: its library is not installed (the message says what to install).
            PluginError: its plugin's ``load`` failed otherwise.
        """
        if name not in self.backends:
            raise UnknownNameError("backend", name, self.backends)
        if name not in self.loaded_backends:
            spec = self.backends[name]
            plugin = self.owner("backend", name)
            try:
                self.loaded_backends[name] = FencedBackend(spec.load(), plugin or "?", name)
            except ImportError as exc:
                hint = f": {spec.install}" if spec.install else ""
                raise IncompatibleError(f"backend '{name}' needs a library that is not installed ({exc}){hint}") from None
            except Exception as exc:
                raise PluginError(f"plugin '{plugin}': backend '{name}' failed to load: {type(exc).__name__}: "
                                  f"{_first_line(exc)}") from None
        return self.loaded_backends[name]

    def module_type(self, name: str | type) -> type:
        """The module class ``name`` stands for, if an installed plugin allows it.

        A name no plugin registered is refused before anything is imported:
        names reach here from downloaded config.json files.

        Raises:
            IncompatibleError: ``name`` is not an allowed module type, or does not
                import as an ``nn.Module`` subclass.
        """
        if isinstance(name, type):  # a class a plugin handed over in its own code
            return name
        if not isinstance(name, str) or name not in self.module_types:
            allowed = ", ".join(sorted(self.module_types)) or "(none)"
            raise IncompatibleError(f"module type {_shown(name)} is not one the installed plugins allow "
                                    f"(register_module_types); allowed: {allowed}")
        module_name, _, attr = name.rpartition(".")
        try:
            found = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise IncompatibleError(f"module type '{name}' (plugin '{self.owner('module type', name)}') "
                                    f"cannot be imported: {exc}") from None
        from torch import nn

        if not (isinstance(found, type) and issubclass(found, nn.Module)):
            raise IncompatibleError(f"module type '{name}' is not an nn.Module class")
        return found

    def owner(self, kind: str, name: str) -> str | None:
        return self.owners.get((kind, self.aliases.get(name, name) if kind == "model" else name))

    def plugin_version(self, plugin: str | None) -> str | None:
        report = self.reports.get(plugin or "")
        return report.version if report else None

    def failures(self) -> list[PluginReport]:
        return [r for r in self.reports.values() if not r.ok]


def _itself(plugin: object) -> object:
    return plugin


def strict_from_env() -> bool:
    return os.environ.get(STRICT_ENV, "") not in ("", "0")


def _wanted_plugins() -> set[str] | None:
    value = os.environ.get(PLUGINS_ENV)
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


class PluginHost:
    """Owns the pluggy manager; builds the catalog once per set of plugins."""

    def __init__(self) -> None:
        self._extra: list[tuple[str, object]] = []
        self._catalog: Catalog | None = None
        self._catalog_strict: bool | None = None

    def add(self, plugin: object, name: str) -> None:
        """Register a plugin object directly (tests, notebooks); it loads after the entry points.

        ZOO_PLUGINS does not filter it out: it was asked for by name.
        """
        self._extra.append((name, plugin))
        self._catalog = None

    def added(self, name: str) -> object | None:
        """The plugin object added under ``name``, or None."""
        return next((plugin for n, plugin in self._extra if n == name), None)

    def remove(self, name: str) -> None:
        self._extra = [(n, p) for n, p in self._extra if n != name]
        self._catalog = None

    def reset(self) -> None:
        self._catalog = None

    def catalog(self, strict: bool | None = None) -> Catalog:
        strict = strict_from_env() if strict is None else strict
        if self._catalog is None or self._catalog_strict != strict:
            self._catalog = self._build(strict)
            self._catalog_strict = strict
        return self._catalog

    def _build(self, strict: bool) -> Catalog:
        catalog = Catalog()
        pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
        pm.add_hookspecs(hookspecs)
        wanted = _wanted_plugins()

        def fail(report: PluginReport, message: str) -> None:
            report.errors.append(message)
            if strict:
                raise PluginError(f"plugin '{report.name}': {message}")

        for name, load, package, version in self._sources(wanted):
            if name in catalog.reports:
                first = catalog.reports[name]
                # Keyed apart, so the plugin that did load keeps its own report.
                report = PluginReport(name=f"{name} ({package or 'added by hand'})", package=package, version=version)
                catalog.reports[report.name] = report
                fail(report, f"plugin name '{name}' is already taken by {_described(first)}; "
                             "rename the entry point in one of the two packages")
                continue
            report = PluginReport(name=name, package=package, version=version)
            catalog.reports[name] = report
            try:
                plugin = load()
            except Exception as exc:  # a broken plugin must not take the CLI down
                fail(report, f"failed to import: {type(exc).__name__}: {_first_line(exc)}")
                continue
            try:
                pm.register(plugin, name=name)
                pm.check_pending()
            except pluggy.PluginValidationError as exc:
                if pm.is_registered(plugin):
                    pm.unregister(plugin)
                fail(report, _explain_invalid(pm, plugin) or f"invalid hook implementation: {' '.join(str(exc).split())}")
                continue
            except ValueError as exc:
                fail(report, str(exc))
                continue
            unmarked = _unmarked_hooks(pm, plugin)
            if unmarked:
                pm.unregister(plugin)
                fail(report, f"{', '.join(unmarked)} not marked with @zoo.hookimpl, so zoo would never call "
                             + ("it" if len(unmarked) == 1 else "them"))
                continue
            report.hooks = sorted(
                hook.name for hook in pm.get_hookcallers(plugin) or () if hook.name in HOOKS
            )
            if name.startswith(MODEL_FILE_PLUGIN):
                catalog.model_files[plugin.arch] = plugin.record  # type: ignore[attr-defined]

        for name in sorted((wanted or set()) - set(catalog.reports)):
            report = PluginReport(name=name)
            catalog.reports[name] = report
            fail(report, f"{PLUGINS_ENV} names it, but no installed package has a '{ENTRY_POINT_GROUP}' entry point "
                         "of that name")

        for hook_name, (kind, spec_type) in HOOKS.items():
            for impl in getattr(pm.hook, hook_name).get_hookimpls():
                report = catalog.reports[impl.plugin_name]
                register = self._register_callback(catalog, report, kind, spec_type, fail)
                kwargs = {"register": register}
                try:
                    impl.function(*[kwargs[arg] for arg in impl.argnames])
                except PluginError:
                    raise
                except Exception as exc:
                    fail(report, f"{hook_name} raised {type(exc).__name__}: {exc}")
        return catalog

    def _sources(self, wanted: set[str] | None) -> Iterable[tuple[str, Callable[[], object], str | None, str | None]]:
        """(name, load, package, version) of each plugin to load: zoo's own first, then the others by package.

        zoo's own load first so that, whatever the order of sys.path, a name
        clash with a built-in is reported against the newcomer.
        """
        # Each distribution's metadata parsed once: reading it per entry point cost a third of `zoo models`.
        described: dict[str, tuple[str, str | None]] = {}

        def describe(ep) -> tuple[str, str | None]:
            dist = getattr(ep, "dist", None)
            if dist is None:
                return "", None
            key = str(getattr(dist, "_path", id(dist)))
            if key not in described:
                meta = dist.metadata
                described[key] = (meta["Name"] or "", meta["Version"])
            return described[key]

        installed = sorted(metadata.entry_points(group=ENTRY_POINT_GROUP),
                           key=lambda ep: (describe(ep)[0] != OWN_DISTRIBUTION, describe(ep)[0], ep.name))
        for ep in installed:
            if wanted is not None and ep.name not in wanted:
                continue
            package, version = describe(ep)
            yield ep.name, ep.load, package or None, version if package else None
        # Added by hand, so wanted whatever ZOO_PLUGINS says: it filters installed plugins only.
        for name, plugin in self._extra:
            yield name, functools.partial(_itself, plugin), None, getattr(plugin, "__version__", None)

    @staticmethod
    def _register_callback(catalog: Catalog, report: PluginReport, kind: str, spec_type: type[Any], fail):
        table = catalog._table(kind)

        def register(spec: Any) -> None:
            if not isinstance(spec, spec_type):
                fail(report, f"registered {type(spec).__name__} where a {spec_type.__name__} was expected")
                return
            if kind == "module type" and spec.name in table:
                # Allowing a class twice is harmless: the first plugin stays its owner.
                report.registered.setdefault(kind, []).append(spec.name)
                return
            names = [spec.name, *getattr(spec, "aliases", ())]
            if kind == "model" and not report.name.startswith(MODEL_FILE_PLUGIN) and any(
                    name.startswith(MODEL_FILE_PREFIX) for name in names):
                # Loading checks a file: architecture against the file the user gave; no plugin may stand in.
                fail(report, f"model names starting with '{MODEL_FILE_PREFIX}' are reserved for the user's own model "
                             f"files; {_described(report)} registered '{spec.name}'")
                return
            for name in names:
                taken = name in table or (kind == "model" and name in catalog.aliases)
                if taken:
                    other = catalog.reports[catalog.owners[(kind, catalog.aliases.get(name, name))]]
                    fail(report, f"{kind} '{name}' from {_described(report)} is already registered by "
                                 f"{_described(other)}")
                    return
            problem = _backend_problem(catalog, kind, spec)
            if problem:
                fail(report, problem)
                return
            unknown = _unallowed_module_types(catalog, kind, spec)
            if unknown:
                fail(report, f"{kind} '{spec.name}' names module type {_shown(unknown[0])}, which no installed plugin "
                             "allows; register it with register_module_types")
                return
            table[spec.name] = fence_spec(spec, report.name)
            catalog.owners[(kind, spec.name)] = report.name
            for alias in names[1:]:
                catalog.aliases[alias] = spec.name
            report.registered.setdefault(kind, []).append(spec.name)

        return register


def _backend_problem(catalog: Catalog, kind: str, spec: Any) -> str | None:
    """Why a preset cannot be applied by the backends it names, or by any registered backend, or None."""
    if kind != "preset":
        return None
    if spec.backends is None and not catalog.preset_backends(spec):
        return (f"preset '{spec.name}': no installed plugin provides a backend with engine '{spec.engine}' for "
                f"{spec.method} quantization; backends: {', '.join(sorted(catalog.backends)) or '(none)'}")
    for name in spec.backends or ():
        backend = catalog.backends.get(name)
        if backend is None:
            return (f"preset '{spec.name}' names backend '{name}', which no installed plugin provides; "
                    f"backends: {', '.join(sorted(catalog.backends)) or '(none)'}")
        if spec.engine not in backend.engines:
            return (f"preset '{spec.name}': backend '{name}' has no engine '{spec.engine}'; "
                    f"its engines: {', '.join(backend.engines)}")
        if spec.method not in backend.methods:
            return (f"preset '{spec.name}': backend '{name}' cannot do {spec.method} quantization; "
                    f"it does {', '.join(backend.methods)}")
    for name in catalog.preset_backends(spec):
        check = catalog.backends[name].check_preset
        problem = check(spec) if check else None
        if problem:
            return f"preset '{spec.name}' would compute wrongly with backend '{name}': {problem}"
    return None


def _unallowed_module_types(catalog: Catalog, kind: str, spec: Any) -> list[Any]:
    """Module-type names in a preset or fusion pattern that no plugin registered (classes are the plugin's own)."""
    if kind == "preset":
        named = spec.dynamic_modules
    elif kind == "fusion pattern":
        named = [t for t in spec.types if not isinstance(t, type)]
    else:
        return []
    return [name for name in named if name not in catalog.module_types]


def _shown(value: Any) -> str:
    """A value from outside, quoted and cut short enough for a one-line error."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _described(report: PluginReport) -> str:
    return f"plugin '{report.name}'" + (f" (package {report.package})" if report.package else "")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def _argnames(function: Callable) -> list[str]:
    """The arguments pluggy would pass by name: those without a default (``self`` is bound already)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in parameters
            if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def _explain_invalid(pm: pluggy.PluginManager, plugin: object) -> str | None:
    """What pluggy rejected, on one line; its own message spans lines and shows object reprs.

    None when the cause is something other than an unknown hook or unknown arguments.
    """
    problems = []
    for attr in sorted(dir(plugin)):
        if pm.parse_hookimpl_opts(plugin, attr) is None:
            continue
        if attr not in HOOKS:
            close = closest_match(attr, HOOKS)
            problems.append(f"unknown hook '{attr}'" + (f" (did you mean '{close}'?)" if close else "")
                            + f"; zoo's hooks are {', '.join(HOOKS)}")
            continue
        given = _argnames(getattr(hookspecs, attr))
        extra = [arg for arg in _argnames(getattr(plugin, attr)) if arg not in given]
        if extra:
            problems.append(f"{attr}() asks for {', '.join(repr(a) for a in extra)}, but the hook passes only "
                            f"{', '.join(repr(a) for a in given)}")
    return "; ".join(problems) or None


def _unmarked_hooks(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    """Functions named like a hook but not marked as its implementation: pluggy skips them without a word."""
    return [attr for attr in HOOKS
            if callable(getattr(plugin, attr, None)) and pm.parse_hookimpl_opts(plugin, attr) is None]


host = PluginHost()


def get_catalog(strict: bool | None = None) -> Catalog:
    """The catalog of the installed (and directly added) plugins, loaded once."""
    return host.catalog(strict)
