"""Plugins installed the way pip leaves them, without running pip: modules beside a .dist-info.

importlib.metadata finds a plugin's entry point in ``<name>-<version>.dist-info/entry_points.txt``
on sys.path, exactly as for a package pip installed, so these exercise the real loading path in
milliseconds.
"""

from __future__ import annotations

import textwrap
from pathlib import Path


def install(site: Path, package: str, version: str, modules: dict[str, str], entry_points: dict[str, str]) -> None:
    """Write ``modules`` (module name → source) and a distribution ``package`` whose ``zoo`` entry points
    are ``entry_points`` (plugin name → module)."""
    for module, source in modules.items():
        (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{package.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[zoo]\n{lines}")


def registers_model(name: str) -> str:
    return f"""
        from zoo import ModelSpec, hookimpl
        @hookimpl
        def register_models(register):
            register(ModelSpec({name!r}, build=lambda num_classes: None, description="a test model"))
    """


def registers_preset(name: str) -> str:
    return f"""
        from zoo import Observer, Preset, hookimpl
        @hookimpl
        def register_presets(register):
            register(Preset({name!r}, "fbgemm", "static", description="a test preset",
                            activation=Observer("minmax"), weight=Observer("minmax", dtype="qint8", symmetric=True)))
    """


RAISES_AT_IMPORT = """
    import a_dependency_nobody_installed
"""

RAISES_IN_HOOK = """
    from zoo import hookimpl
    @hookimpl
    def register_presets(register):
        raise RuntimeError("the preset table is corrupt")
"""

MISSPELLED_HOOK = """
    from zoo import hookimpl
    @hookimpl
    def register_model(register):
        pass
"""

UNMARKED_HOOK = """
    def register_presets(register):
        pass
"""
