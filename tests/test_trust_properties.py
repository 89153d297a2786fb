"""Generated mutations of real artifacts, as an attacker who owns a Hub repository would make them.

Each mutation edits card.json, config.json or the safetensors layout of a real
artifact and recomputes every digest, then goes through what ``zoo pull`` does
with a downloaded snapshot (``read_snapshot`` and ``record_checked``). The
property: either one ZooError of one line and a registry left as it was, or a
recorded model that loads, runs to finite outputs of the right shape, and whose
card the listing and report code can read.
"""

from __future__ import annotations

import copy
import json
import shutil

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.artifacts_v1 import fixture_plugin
from zoo.core.errors import ZooError
from zoo.core.versions import versions
from zoo.host.plugins import PluginHost
from zoo.hub.client import read_snapshot, record_checked
from zoo.jobs.record import CARD_VERSION, plugin_info
from zoo.testing import check_model
from zoo_registry import artifact, codec
from zoo_registry.config import make_config
from zoo_registry.loading import build, check_runs
from zoo_registry.store import Registry

pytestmark = pytest.mark.usefixtures("one_thread")

EXAMPLES = 100

JSON_LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30),
    st.sampled_from(["", "high", "\x1b]0;owned\x07", "../x", "nan", "-1", "1e309", "fbgemm", "eager", "pt2e"]),
)
JSON_VALUES = st.recursive(JSON_LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)), max_leaves=8)
NUMBERS = st.one_of(st.integers(min_value=-(2 ** 40), max_value=2 ** 40), st.floats(allow_nan=False),
                    st.sampled_from([0, -1, 10 ** 9, 2 ** 63]))


@pytest.fixture(scope="module")
def catalog():
    host = PluginHost()
    host.add(fixture_plugin, "fixture")
    return host.catalog(strict=True)


@pytest.fixture(scope="module")
def artifacts(catalog):
    """The four files of a real artifact of each kind: int8 static (eager), int8 dynamic, float."""
    made = {}
    for kind, preset in (("static", "fbgemm-histogram"), ("dynamic", "dynamic-int8"), ("float", None)):
        if preset:
            state = check_model("fixture-cnn", preset=preset, num_classes=4, catalog=catalog).model.state_dict()
        else:
            torch.manual_seed(0)
            state = catalog.model("fixture-cnn").build(4).eval().state_dict()
        config = make_config(kind="int8" if preset else "float", arch="fixture-cnn",
                             plugin=plugin_info(catalog, "fixture-cnn"), num_classes=4, image_size=16, in_channels=3,
                             preset=catalog.preset(preset) if preset else None, backend="eager" if preset else None,
                             versions=versions())
        card = {"card_version": CARD_VERSION, "kind": config.kind, "arch": "fixture-cnn", "preset": preset,
                "engine": config.engine, "method": catalog.preset(preset).method if preset else None,
                "backend": config.backend,
                "dataset": {"name": "shapes", "split": "test", "images": 8, "image_size": 16, "num_classes": 4},
                "metrics": {"top1": 50.0, "top5": 100.0, "size_bytes": 1000,
                            "latency": {"p50_ms": 1.0, "p90_ms": 1.2, "batch_size": 1, "threads": 1, "cpu": "x",
                                        "runs": 5, "runtime": "eager", "engine": config.engine}},
                "created": "2026-11-30T00:00:00+00:00", "plugin": plugin_info(catalog, "fixture-cnn"),
                "versions": versions(), "command": "made by the test"}
        made[kind] = (codec.encode(state), config.to_dict(), card)
    return made


def paths(value, prefix=()):
    """Every (path, value) inside a JSON value."""
    yield prefix, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*prefix, index))


def mutate(document, data, replacement):
    """``document`` with one value (chosen by ``data``) replaced, deleted, or given a sibling."""
    document = copy.deepcopy(document)
    chosen = data.draw(st.sampled_from([p for p, _ in paths(document) if p]))
    parent = document
    for part in chosen[:-1]:
        parent = parent[part]
    action = data.draw(st.sampled_from(["replace", "replace", "delete", "add"]))
    if action == "delete" and isinstance(parent, dict):
        del parent[chosen[-1]]
    elif action == "add" and isinstance(parent, dict):
        parent[data.draw(st.text(min_size=1, max_size=8))] = replacement
    else:
        parent[chosen[-1]] = replacement
    return document


def forge(model_bytes: bytes, config, card, name: str = "mutant") -> dict[str, bytes]:
    """The four files with every digest recomputed, as ``artifact.render`` writes them, but whatever the card holds
    (an attacker writes the README by hand)."""
    readme = b"# a model\n"
    config_bytes = artifact.pretty_json(config)
    model_sha, config_sha = artifact.sha256(model_bytes), artifact.sha256(config_bytes)
    content = card if isinstance(card, dict) else {}
    full = {"name": name, "version": artifact.version_digest(model_sha, config_sha, content), **content}
    full["files"] = {artifact.MODEL_FILE: {"sha256": model_sha, "size": len(model_bytes)},
                     artifact.CONFIG_FILE: {"sha256": config_sha, "size": len(config_bytes)},
                     artifact.README_FILE: {"sha256": artifact.sha256(readme), "size": len(readme)}}
    return {artifact.MODEL_FILE: model_bytes, artifact.CONFIG_FILE: config_bytes,
            artifact.CARD_FILE: artifact.pretty_json(full), artifact.README_FILE: readme}


def attempt(tmp_path, catalog, model_bytes: bytes, config, card) -> None:
    """Serve the artifact as a Hub snapshot and pull it; assert the property."""
    files = forge(model_bytes, config, card)
    snapshot = tmp_path / "snapshot"
    shutil.rmtree(snapshot, ignore_errors=True)
    snapshot.mkdir()
    for name, data in files.items():
        (snapshot / name).write_bytes(data)
    registry = Registry(tmp_path / "registry")
    shutil.rmtree(registry.root, ignore_errors=True)
    try:
        entry = record_checked(registry, read_snapshot(snapshot, "alice/mutant@abc"), "alice/mutant@abc", catalog)
    except ZooError as exc:
        assert "\n" not in str(exc), str(exc)
        assert registry.list() == []
        assert not (registry.root / "models").exists() or not any((registry.root / "models").rglob("*.json"))
        ATTEMPTS["refused"] += 1
        return
    ATTEMPTS["recorded"] += 1
    config_back, card_back, model_back = registry.open(entry)
    check_runs(build(config_back, model_back, catalog), config_back, "recorded", catalog)
    from zoo.cli.registry import comparison_rows
    from zoo.cli.report import comparison

    comparison_rows([card_back])
    if card_back.kind == "int8" and card_back.baseline:
        comparison(card_back)


ATTEMPTS = {"refused": 0, "recorded": 0}
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.mark.parametrize("kind", ["static", "dynamic", "float"])
@SETTINGS
@given(data=st.data(), replacement=JSON_VALUES)
def test_a_mutated_card_is_refused_or_harmless(tmp_path, catalog, artifacts, kind, data, replacement):
    model_bytes, config, card = artifacts[kind]
    attempt(tmp_path, catalog, model_bytes, config, mutate(card, data, replacement))


@pytest.mark.parametrize("kind", ["static", "dynamic", "float"])
@SETTINGS
@given(data=st.data(), replacement=JSON_VALUES)
def test_a_mutated_config_is_refused_or_harmless(tmp_path, catalog, artifacts, kind, data, replacement):
    model_bytes, config, card = artifacts[kind]
    attempt(tmp_path, catalog, model_bytes, mutate(config, data, replacement), card)


@pytest.mark.parametrize("kind", ["static", "dynamic"])
@SETTINGS
@given(data=st.data(), replacement=st.one_of(JSON_VALUES, NUMBERS))
def test_a_mutated_safetensors_layout_is_refused_or_harmless(tmp_path, catalog, artifacts, kind, data, replacement):
    model_bytes, config, card = artifacts[kind]
    length = int.from_bytes(model_bytes[:8], "little")
    header = json.loads(model_bytes[8:8 + length])
    layout = json.loads(header["__metadata__"]["layout"])
    header["__metadata__"]["layout"] = json.dumps(mutate(layout, data, replacement))
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    attempt(tmp_path, catalog, len(text).to_bytes(8, "little") + text + model_bytes[8 + length:], config, card)


@pytest.mark.parametrize("kind", ["static", "dynamic"])
@SETTINGS
@given(data=st.data(), value=st.sampled_from([0.0, -1.0, float("nan"), float("inf"), 1e-45, 1e38]))
def test_mutated_quantization_parameters_are_refused_or_harmless(tmp_path, catalog, artifacts, kind, data, value):
    """Scales and zero points edited inside the tensor data, where the layout cannot see them."""
    model_bytes, config, card = artifacts[kind]
    from safetensors.torch import load, save

    tensors = load(model_bytes)
    targets = sorted(name for name in tensors if name.endswith(("/scales", "/zero_points")))
    if not targets:
        return
    name = data.draw(st.sampled_from(targets))
    tensor = tensors[name].clone()
    tensor.view(-1)[data.draw(st.integers(0, tensor.numel() - 1))] = value if tensor.is_floating_point() else -300
    tensors[name] = tensor
    length = int.from_bytes(model_bytes[:8], "little")
    metadata = json.loads(model_bytes[8:8 + length])["__metadata__"]
    attempt(tmp_path, catalog, save(tensors, metadata=metadata), config, card)


def test_the_generated_mutations_were_both_refused_and_recorded():
    """Run after the property tests in this module: both outcomes happened, so the property was exercised."""
    if sum(ATTEMPTS.values()) == 0:
        pytest.skip("run with the property tests of this module")
    assert ATTEMPTS["refused"] > 0 and ATTEMPTS["recorded"] > 0, ATTEMPTS
    print(f"mutations: {ATTEMPTS}")
