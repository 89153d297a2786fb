"""pytest fixtures for tests that drive the real huggingface_hub client against ``tests.hubserver.HubServer``.

Use them with ``from tests.hub_fixtures import hub_server, hub_env  # noqa: F401``.

The client reads ``HF_ENDPOINT`` (and the other HF_* variables) when ``huggingface_hub`` is first imported,
so run it in a subprocess with ``hub_env`` as its environment, e.g. with ``run_python``. For in-process use,
``hub_server.client_env(token=..., hf_home=...)`` gives the variables to put in ``os.environ`` before the
process's first ``import huggingface_hub``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping

import pytest

from tests.hubserver import HubServer
from tests.netguard import guard_env

HUB_TOKEN = "hf_test_token_0123456789abcdef"
HUB_USER = "testuser"

# Inherited settings that would redirect or disable the client (cache location, offline mode, a real token...).
_CLIENT_ENV_PREFIXES = ("HF_", "HUGGINGFACE_")
_CLIENT_ENV_NAMES = {"TRANSFORMERS_OFFLINE", "DISABLE_TELEMETRY", "DO_NOT_TRACK"}


@pytest.fixture
def hub_server(tmp_path) -> Iterator[HubServer]:
    """A started HubServer storing into tmp_path, with one valid token: HUB_TOKEN for user HUB_USER."""
    with HubServer(str(tmp_path / "hub-storage"), {HUB_TOKEN: HUB_USER}) as server:
        yield server


@pytest.fixture
def hub_env(hub_server: HubServer, tmp_path) -> dict[str, str]:
    """Full environment for a client subprocess: os.environ without inherited HF_* settings, plus
    HF_ENDPOINT, HF_HUB_DISABLE_XET=1, HF_HUB_DISABLE_TELEMETRY=1, HF_HOME in tmp_path, HF_TOKEN and the
    network guard (guard_env())."""
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(_CLIENT_ENV_PREFIXES) and k not in _CLIENT_ENV_NAMES
    }
    env.update(hub_server.client_env(token=HUB_TOKEN, hf_home=str(tmp_path / "hf-home")))
    env.update(guard_env(base_env=os.environ))
    return env


def run_python(code: str, env: Mapping[str, str], *, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter with ``env``; raise with its output if it fails."""
    result = subprocess.run(
        [sys.executable, "-c", code], env=dict(env), capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        raise AssertionError(f"client subprocess failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def run_client_json(code: str, env: Mapping[str, str], *, timeout: float = 60) -> object:
    """Run ``code``, which must ``print(json.dumps(...))`` as its last output line, and return that value."""
    stdout = run_python(code, env, timeout=timeout).stdout
    return json.loads(stdout.strip().splitlines()[-1])
