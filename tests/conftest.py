"""Test-wide settings: a private zoo home, no progress bars, only the built-in plugins, no network.

The network guard covers this process (tests.netguard) and, through the
environment set here, every Python subprocess a test starts.

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
    from tests.netguard import guard_env

    settings = {
        "ZOO_HOME": str(home),
        "ZOO_NO_PROGRESS": "1",
        "ZOO_PLUGINS": ",".join(BUILTIN_PLUGINS),
        "TORCH_HOME": str(home / "torch"),
        **guard_env(),
    }
    saved = {k: os.environ.get(k) for k in settings}
    os.environ.update(settings)
    yield home
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(autouse=True)
def fresh_catalog():
    """Each test sees the plugins of its own environment."""
    from zoo.host.plugins import host

    host.reset()
    yield
    host.reset()


@pytest.fixture(scope="module")
def one_thread():
    """On 32×32 images, thread hand-offs cost more than they give (3× slower on a busy 2-core machine).

    Modules that build and run many small models opt in with ``pytestmark = pytest.mark.usefixtures("one_thread")``.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
