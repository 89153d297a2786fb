"""pytest plugin: fail any test that tries to reach a non-loopback address.

Enable it by listing ``"tests.netguard"`` in the root conftest's ``pytest_plugins`` (it then guards the whole
session from ``pytest_configure`` on, so import-time network access is refused too). A test module can also
opt in on its own with ``from tests.netguard import netguard  # noqa: F401``: the autouse fixture installs the
guard (idempotently) before each of its tests.

In-process, the socket module is patched (see ``tests/netguard_site/sitecustomize.py`` for exactly what and
its limits): a blocked call raises ``NetworkAccessBlocked`` (a ConnectionRefusedError) naming the address, and
the autouse fixture fails the test at teardown (reported as an error) if any attempt was recorded, even one the
code under test caught and turned into a fallback.

A test whose very point is how the code behaves without network marks itself
``@pytest.mark.expect_blocked_network``: its attempts are still refused, but they do not fail it.

Subprocesses cannot be patched from here. ``guard_env()`` returns the environment variables that make a child
*Python* process install the same guard at start-up (through ``sitecustomize`` on ``PYTHONPATH``) and report
violations to a log file the fixture checks after each test. Non-Python children (curl, git, ...) and
``python -S``/``-I`` are not covered.
"""

from __future__ import annotations

import atexit
import os
import tempfile
from collections.abc import Iterator, Mapping

import pytest

from tests.netguard_site import sitecustomize as _core

NetworkAccessBlocked = _core.NetworkAccessBlocked
is_local_host = _core.is_local_host
take_violations = _core.take_violations
install = _core.install
uninstall = _core.uninstall

SITE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "netguard_site")

_session_log: str | None = None


def session_log_path() -> str:
    """A per-process log file that guarded subprocesses append their violations to."""
    global _session_log
    if _session_log is None:
        fd, _session_log = tempfile.mkstemp(prefix="zoo-netguard-", suffix=".log")
        os.close(fd)
        atexit.register(_remove_quietly, _session_log)
    return _session_log


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def guard_env(log_path: str | None = None, base_env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment variables that install the network guard in child Python processes.

    Merge them into the child's environment (``{**os.environ, **guard_env()}``). ``PYTHONPATH`` keeps the
    entries of ``base_env`` (default: ``os.environ``) after the guard's directory. Violations are appended to
    ``log_path`` (default: the session log, which the autouse fixture checks after every test).
    """
    inherited = (base_env if base_env is not None else os.environ).get("PYTHONPATH", "")
    return {
        "PYTHONPATH": os.pathsep.join(p for p in (SITE_DIR, inherited) if p),
        _core.ENV_ENABLE: "1",
        _core.ENV_LOG: log_path or session_log_path(),
    }


def _log_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _log_lines_since(path: str, offset: int) -> list[str]:
    try:
        with open(path, encoding="utf-8") as log:
            log.seek(offset)
            return [line.rstrip("\n") for line in log if line.strip()]
    except OSError:
        return []


EXPECT_BLOCKED_MARKER = "expect_blocked_network"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{EXPECT_BLOCKED_MARKER}: the test exercises behaviour without network; refused "
        "non-loopback connections do not fail it",
    )
    install()


@pytest.fixture(autouse=True)
def netguard(request: pytest.FixtureRequest) -> Iterator[None]:
    """Guard each test; fail it if it (or a guarded subprocess) tried to reach a non-loopback address."""
    install()
    take_violations()  # violations from before this test belong to no test
    log = session_log_path()
    offset = _log_size(log)
    yield
    # This process logs its own violations too (the guard env is in os.environ for subprocesses' sake); those
    # lines duplicate take_violations(), which a test may already have consumed on purpose.
    own = f"[pid {os.getpid()}] "
    violations = take_violations() + [line for line in _log_lines_since(log, offset) if not line.startswith(own)]
    if violations and request.node.get_closest_marker(EXPECT_BLOCKED_MARKER) is None:
        pytest.fail(
            "non-loopback network access attempted (mark the test @pytest.mark.expect_blocked_network if that "
            "is its point):\n" + "\n".join(violations),
            pytrace=False,
        )
