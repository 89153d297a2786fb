"""Test-wide settings: a private zoo home, no progress bars, only the built-in plugins, no network.

Installed third-party plugins stay out of the tests (ZOO_PLUGINS lists the
built-ins); a test that needs another plugin sets ZOO_PLUGINS itself.
"""

from __future__ import annotations

import os
from importlib import metadata

import pytest

pytest_plugins = ["tests.netguard"]

BUILTIN_PLUGINS = sorted(
    ep.name for ep in metadata.entry_points(group="zoo") if ep.dist is not None and ep.dist.name == "zoo"
)


@pytest.fixture(scope="session", autouse=True)
def zoo_environment(tmp_path_factory):
    home = tmp_path_factory.mktemp("zoo-home")
    saved = {k: os.environ.get(k) for k in ("ZOO_HOME", "ZOO_NO_PROGRESS", "ZOO_PLUGINS", "TORCH_HOME")}
    os.environ.update({
        "ZOO_HOME": str(home),
        "ZOO_NO_PROGRESS": "1",
        "ZOO_PLUGINS": ",".join(BUILTIN_PLUGINS),
        "TORCH_HOME": str(home / "torch"),
    })
    yield home
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(autouse=True)
def fresh_catalog():
    """Each test sees the plugins of its own environment."""
    from zoo.plugins import host

    host.reset()
    yield
    host.reset()
