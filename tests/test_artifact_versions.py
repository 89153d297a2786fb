"""Artifacts written by earlier zoo versions still load, and compute what they computed then.

tests/artifacts_v1/ holds one artifact of each kind made by zoo's artifact
version 1 (see its make.py), with the outputs that zoo computed on a fixed input.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

import pytest
import torch

from tests.artifacts_v1 import fixture_plugin
from tests.artifacts_v1.make import KINDS, probe
from zoo.plugins import PluginHost
from zoo_registry import artifact
from zoo_registry.loading import load_directory
from zoo_registry.store import Registry

V1 = Path(__file__).resolve().parent / "artifacts_v1"


@pytest.fixture(scope="module")
def catalog():
    host = PluginHost()
    host.add(fixture_plugin, "fixture")
    return host.catalog(strict=True)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_version_1_artifact_loads_and_computes_as_before(kind, catalog, tmp_path):
    directory = tmp_path / kind
    shutil.copytree(V1 / kind, directory)
    assert json.loads((directory / artifact.CONFIG_FILE).read_text())["artifact_version"] == 1
    # Through the registry, as a version recorded by the earlier zoo would be read.
    registry = Registry(tmp_path / "registry")
    entry = registry.add(_artifact_only(directory, tmp_path / "staged"))
    model, config, card = load_directory(registry.directory(entry.name, entry.version), catalog=catalog)
    backend = config.get("mode")  # version 1 named the backend "mode"
    engine = catalog.backend(backend).engine(config["engine"]) if backend else contextlib.nullcontext()
    with engine, torch.no_grad():
        outputs = model(probe())
    assert outputs.tolist() == json.loads((directory / "expected-outputs.json").read_text())


def _artifact_only(source: Path, staged: Path) -> Path:
    staged.mkdir()
    for name in artifact.FILES:
        shutil.copy(source / name, staged / name)
    return staged
