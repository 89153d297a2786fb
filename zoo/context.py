"""One context for a zoo session: its home directory, its registry, its plugins and where progress goes.

The command line builds one ``Context`` from its options and the environment
and passes it to every job, as datasette passes its ``Datasette`` instance; a
Python caller passes one, or gets ``Context.from_environment()`` by default.
Nothing in zoo writes ``os.environ``: a global option reaches every command
through this object.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

from zoo.core.paths import zoo_home
from zoo.core.progress import QUIET, Progress
from zoo.host.plugins import Catalog, PluginHost, host, strict_from_env
from zoo_registry.store import Registry, default_root


@dataclass(frozen=True)
class Context:
    """Where a session keeps its data, which registry it records in, which plugins it trusts and how strictly.

    Attributes:
        home: zoo's data directory (``ZOO_HOME``): datasets under ``home/datasets``.
        registry_root: the registry's directory (``--registry``, ``ZOO_REGISTRY``, else ``home/registry``).
        strict_plugins: a plugin that fails to load stops every command (``--strict-plugins``,
            ``ZOO_STRICT_PLUGINS=1``) instead of being reported and left out.
        progress: where long steps report (``zoo.core.progress.QUIET`` by default; the CLI draws bars).
        plugins: the plugin host the catalog comes from: the installed plugins, and any added with
            ``PluginHost.add`` (the process-wide ``zoo.host.plugins.host`` unless given).
    """

    home: Path
    registry_root: Path
    strict_plugins: bool = False
    progress: Progress = QUIET
    plugins: PluginHost = field(default=host, repr=False)

    @classmethod
    def from_environment(cls, *, registry: str | Path | None = None, strict_plugins: bool | None = None,
                         progress: Progress | None = None, plugins: PluginHost | None = None) -> Context:
        """A context from the arguments given, else the environment (``ZOO_HOME``, ``ZOO_REGISTRY``,
        ``ZOO_STRICT_PLUGINS``), else zoo's defaults.

        Raises:
            StorageError: ``ZOO_HOME`` names a file.
        """
        return cls(
            home=zoo_home(),
            registry_root=Path(registry).expanduser() if registry else default_root(),
            strict_plugins=strict_from_env() if strict_plugins is None else strict_plugins,
            progress=QUIET if progress is None else progress,
            plugins=host if plugins is None else plugins,
        )

    @functools.cached_property
    def registry(self) -> Registry:
        """The registry this session records in and reads from."""
        return Registry(self.registry_root)

    @property
    def catalog(self) -> Catalog:
        """What the installed plugins register, loaded with this context's strictness (built once, then cached).

        Raises:
            PluginError: with ``strict_plugins``, the first plugin that fails to load.
        """
        return self.plugins.catalog(self.strict_plugins)

    @property
    def datasets_dir(self) -> Path:
        """Where datasets that zoo downloads are kept."""
        return self.home / "datasets"


def default_context(context: Context | None) -> Context:
    """``context``, or one built from the environment: what every library entry point starts with."""
    return context if context is not None else Context.from_environment()
