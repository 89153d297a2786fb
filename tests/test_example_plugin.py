"""The example plugin package, installed with pip as a user would, then driven through zoo's commands.

pip installs plugins/example into a directory of its own that the zoo
processes find on PYTHONPATH: the environment stays as it was, and nothing is
fetched (no index, no build isolation, no dependencies).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import BUILTIN_PLUGINS

EXAMPLE = Path(__file__).resolve().parent.parent / "plugins" / "example"
PLUGINS = ",".join([*BUILTIN_PLUGINS, "example"])


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("example-plugin")
    # pip builds in the source tree; building a copy keeps build/ and *.egg-info out of the repository.
    source = work / "source"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__",
                                                                   ".pytest_cache"))
    target = work / "site"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "--quiet", "--target", str(target), str(source)],
        capture_output=True, text=True, env=os.environ)
    assert done.returncode == 0, done.stderr
    return target


def environment(site: Path) -> dict[str, str]:
    # os.environ carries the network guard's PYTHONPATH entry; the plugin's directory goes after it.
    path = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), str(site)) if p)
    return {**os.environ, "PYTHONPATH": path, "ZOO_PLUGINS": PLUGINS}


def zoo(site: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True,
                          env=environment(site))


def zoo_json(site: Path, *args: str):
    done = zoo(site, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_zoo_lists_what_the_installed_plugin_adds(site):
    plugins = {p["name"]: p for p in zoo_json(site, "plugins")}
    assert plugins["example"] == {
        "name": "example", "package": "zoo-example-plugin", "version": "0.1.0",
        "hooks": ["register_datasets", "register_models", "register_presets"],
        "registered": {"model": ["tinycnn"], "preset": ["fbgemm-histogram-per-tensor"], "dataset": ["shapes"]},
        "errors": []}
    assert all(plugins[name]["errors"] == [] for name in BUILTIN_PLUGINS)

    models = {m["name"]: m for m in zoo_json(site, "models")}
    assert {"tinycnn", "mobilenet_v2", "resnet18"} <= set(models)
    expected = {"plugin": "example", "plugin_version": "0.1.0", "backends": None, "fuse": "fusion patterns",
                "input_size": 32, "in_channels": 3, "weights": []}
    assert {key: models["tinycnn"][key] for key in expected} == expected
    presets = {p["name"]: p for p in zoo_json(site, "presets")}
    expected = {"plugin": "example", "engine": "fbgemm", "method": "static", "activation": "histogram",
                "weight": "minmax"}
    assert {key: presets["fbgemm-histogram-per-tensor"][key] for key in expected} == expected
    datasets = {d["name"]: d for d in zoo_json(site, "datasets")}
    assert datasets["shapes"]["plugin"] == "example" and datasets["shapes"]["num_classes"] == 6

    table = zoo(site, "plugins").stdout
    assert any(line.split()[:3] == ["example", "zoo-example-plugin", "0.1.0"] and line.endswith("ok")
               for line in table.splitlines())


@pytest.mark.slow
def test_train_then_quantize_in_eager_and_fx_mode_records_models_that_reload(site, tmp_path):
    registry = ["--registry", str(tmp_path / "registry")]
    card = zoo_json(site, *registry, "train", "tinycnn", "--dataset", "shapes", "--epochs", "3",
                    "--train-limit", "1500", "--batch-size", "32", "--lr", "0.05", "--eval-limit", "300")
    assert card["name"] == "tinycnn-shapes"
    assert card["plugin"] == {"name": "example", "package": "zoo-example-plugin", "version": "0.1.0"}
    assert card["metrics"]["top1"] >= 60, "Shapes has 6 classes: TinyCNN should be far above chance (16.7 %)"

    for backend in ("eager", "fx"):
        name = f"tinycnn-shapes-int8-{backend}"
        result = zoo_json(site, *registry, "quantize", "tinycnn", "--preset", "fbgemm-histogram", "--dataset",
                          "shapes", "--backend", backend, "--calibration-images", "128", "--eval-limit", "300",
                          "--latency-runs", "5", "--runtimes", "eager", "--name", name)
        assert (result["arch"], result["preset"], result["backend"]) == ("tinycnn", "fbgemm-histogram", backend)
        assert result["plugin"] == {"name": "example", "package": "zoo-example-plugin", "version": "0.1.0"}
        # Without --weights, quantize starts from what `zoo train` recorded.
        assert result["parent"]["name"].startswith("tinycnn-shapes@")
        assert result["dataset"] == {"name": "shapes", "split": "test", "images": 300, "image_size": 32,
                                     "num_classes": 6}
        assert result["baseline"]["top1"] == card["metrics"]["top1"]
        assert result["metrics"]["top1"] >= result["baseline"]["top1"] - 5
        assert result["metrics"]["size_bytes"] < result["baseline"]["size_bytes"] / 2

        # A new process rebuilds the model through the plugin and measures what the card says, to the image.
        evaluated = zoo_json(site, *registry, "eval", name)
        assert evaluated["matches"], evaluated
        assert evaluated["measured"] == {"top1": result["metrics"]["top1"], "top5": result["metrics"]["top5"],
                                         "ties": result["metrics"]["ties"]}


@pytest.fixture()
def importable(site, monkeypatch):
    """The installed plugin, importable and loaded in this process; its modules are forgotten afterwards."""
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("ZOO_PLUGINS", PLUGINS)
    yield
    for name in [n for n in sys.modules if n == "zoo_example_plugin" or n.startswith("zoo_example_plugin.")]:
        del sys.modules[name]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["eager", "fx"])
def test_a_recorded_example_model_reloads_bit_identically(importable, tmp_path, backend):
    from zoo import data
    from zoo.host.plugins import get_catalog
    from zoo.jobs.quantize import LatencyOptions, QuantizeOptions, run_quantize
    from zoo.jobs.record import record_quantized
    from zoo_registry.loading import load_reference
    from zoo_registry.store import Registry

    produced = run_quantize(QuantizeOptions(
        arch="tinycnn", preset="fbgemm-histogram", dataset="shapes", weights="random", backend=backend,
        calibration_images=64, eval_limit=64, latency=LatencyOptions(runs=2, warmup=1, runtimes=("eager",))))
    registry = Registry(tmp_path / "registry")
    entry = record_quantized(registry, produced)
    reloaded, config, _ = load_reference(entry.name, registry)
    assert (config.plugin.package, config.backend) == ("zoo-example-plugin", backend)

    selection = produced.selection
    test_set = data.first(data.load_split(selection.dataset, selection.data, "test"), 16)
    images = torch.stack([image for image, _ in test_set])
    with get_catalog().backend(backend).engine(config.engine), torch.no_grad():
        expected = produced.model(images)
        assert torch.unique(expected).numel() > 1, "constant outputs: comparing them would prove nothing"
        assert torch.equal(reloaded(images), expected)


@pytest.mark.slow
def test_the_example_plugins_own_tests_pass(site):
    """Its tests run against the installed copy: the source tree is not on the path."""
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=EXAMPLE,
                          capture_output=True, text=True, env=environment(site))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "failed" not in done.stdout
