"""Artifacts written by earlier zoo versions still load, and compute what they computed then.

tests/artifacts_v1/ and tests/artifacts_v2/ hold one artifact of each kind made by zoo's artifact versions 1 and 2
(see their make.py), with the outputs that zoo computed on a fixed input.
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
from tests.artifacts_v2.make import KINDS as KINDS_V2
from tests.artifacts_v2.make import LABELS
from zoo.host.plugins import PluginHost
from zoo_registry import artifact
from zoo_registry.loading import load_directory
from zoo_registry.store import Registry

V1 = Path(__file__).resolve().parent / "artifacts_v1"
V2 = Path(__file__).resolve().parent / "artifacts_v2"


@pytest.fixture(scope="module")
def catalog():
    host = PluginHost()
    host.add(fixture_plugin, "fixture")
    return host.catalog(strict=True)


CASES = [(1, kind) for kind in sorted(KINDS)] + [(2, kind) for kind in sorted(KINDS_V2)]


@pytest.mark.parametrize("version, kind", CASES)
def test_an_earlier_artifact_loads_and_computes_as_before(version, kind, catalog, tmp_path):
    directory = tmp_path / kind
    shutil.copytree((V1 if version == 1 else V2) / kind, directory)
    assert json.loads((directory / artifact.CONFIG_FILE).read_text())["artifact_version"] == version
    # Through the registry, as a version recorded by the earlier zoo would be read.
    registry = Registry(tmp_path / "registry")
    entry = registry.add(_artifact_only(directory, tmp_path / "staged"))
    model, config, card = load_directory(registry.directory(entry.name, entry.version), catalog=catalog)
    backend = config.backend_name  # version 1 named the backend "mode"
    if version == 2:
        from zoo.jobs.predict import preprocess_of

        preprocess = preprocess_of(config, card, catalog)
        assert (preprocess.labels, preprocess.image_size, card.top_k_rule) == (LABELS, 16, "fractional-ties")
    engine = catalog.backend(backend).engine(config.engine) if backend else contextlib.nullcontext()
    with engine, torch.no_grad():
        outputs = model(probe())
    assert outputs.tolist() == json.loads((directory / "expected-outputs.json").read_text())


def _artifact_only(source: Path, staged: Path) -> Path:
    staged.mkdir()
    for name in artifact.FILES:
        shutil.copy(source / name, staged / name)
    return staged


V1_SCHEMA = """
CREATE TABLE versions (name TEXT NOT NULL, version TEXT NOT NULL, kind TEXT NOT NULL, arch TEXT NOT NULL,
    preset TEXT, method TEXT, engine TEXT, mode TEXT, dataset TEXT, top1 REAL, top5 REAL, size_bytes INTEGER,
    p50_ms REAL, created TEXT NOT NULL, PRIMARY KEY (name, version));
"""


def test_an_index_an_earlier_zoo_wrote_is_read_and_brought_up_to_date(catalog, tmp_path):
    """Index schema 1 called the backend column "mode"; reading such a registry migrates it, losing nothing."""
    import sqlite3

    card = json.loads((V1 / "int8-fx-static" / artifact.CARD_FILE).read_text())
    registry = Registry(tmp_path / "registry")
    shutil.copytree(V1 / "int8-fx-static", registry.directory(card["name"], card["version"]))
    registry.root.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(registry.index_path) as db:
        db.executescript(V1_SCHEMA)
        db.execute("INSERT INTO versions (name, version, kind, arch, preset, method, engine, mode, dataset, created) "
                   "VALUES (?, ?, 'int8', 'fixture-cnn', 'fbgemm-minmax', 'static', 'fbgemm', 'fx', 'shapes', ?)",
                   (card["name"], card["version"], card["created"]))
        db.execute("PRAGMA user_version = 1")
    [entry] = registry.list()
    assert (entry.name, entry.backend, entry.preset) == (card["name"], "fx", "fbgemm-minmax")
    with sqlite3.connect(registry.index_path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    model, config, _ = load_directory(registry.directory(entry.name, entry.version), catalog=catalog)
    assert (config.mode, config.backend, config.backend_name) == ("fx", None, "fx")


@pytest.mark.parametrize("version, kind", CASES)
def test_the_typed_card_and_config_give_back_exactly_what_the_files_hold(version, kind):
    # One definition each (zoo_registry.schema): what zoo reads through them is what the file says, field for field,
    # and a reader cannot change it.
    from pydantic import ValidationError

    from zoo_registry.schema import check_card, check_config

    directory = (V1 if version == 1 else V2) / kind
    card_json = json.loads((directory / artifact.CARD_FILE).read_text())
    config_json = json.loads((directory / artifact.CONFIG_FILE).read_text())
    card, config = check_card(card_json, kind), check_config(config_json, kind)
    assert card.to_dict() == card_json and config.to_dict() == config_json
    assert (card.name, card.metrics.top1, config.num_classes) == (
        card_json["name"], card_json["metrics"]["top1"], config_json["num_classes"])
    with pytest.raises(ValidationError, match="frozen"):
        card.metrics.top1 = 99.0  # type: ignore[misc]
