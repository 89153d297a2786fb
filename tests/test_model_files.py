"""A model from the user's own Python file: quantized without a plugin, recorded with the file's digest, loaded
only with that very file, and never imported because an artifact names it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import zoo
from zoo.core.errors import IntegrityError, PluginError, SettingError
from zoo.host.plugins import PluginHost

MODEL_FILE = '''
import os
from pathlib import Path

from torch import nn

# Proof of every time this file runs.
Path(os.environ["RUNS_LOG"]).open("a").write("ran\\n")


def build(num_classes: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, num_classes))
'''
SMALL = dict(weights="random", backend="fx", eval_limit=16, calibration_images=8, runtimes="eager", latency_runs=2)


@pytest.fixture
def model_file(tmp_path, monkeypatch):
    path = tmp_path / "my_net.py"
    path.write_text(MODEL_FILE)
    monkeypatch.setenv("RUNS_LOG", str(tmp_path / "runs.log"))
    return path


def runs(tmp_path: Path) -> int:
    log = tmp_path / "runs.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def session(tmp_path: Path) -> zoo.Context:
    return zoo.Context.from_environment(registry=str(tmp_path / "registry"), plugins=PluginHost())


@pytest.fixture
def made(model_file, tmp_path):
    context = session(tmp_path)
    return zoo.quantize(f"{model_file}:build", "x86-histogram", context=context, **SMALL), model_file


def test_a_model_file_quantizes_and_records_which_file_made_it(made, tmp_path):
    made, model_file = made
    digest = __import__("hashlib").sha256(model_file.read_bytes()).hexdigest()
    assert made.reference.startswith("file-my_net.build-int8@")
    assert made.card.arch == "file:my_net.build"
    expected = {"name": "my_net.py", "function": "build", "sha256": digest}
    assert made.card.model_file is not None and made.card.model_file.to_dict() == expected
    directory = session(tmp_path).registry.root / "models" / made.reference.replace("@", "/")
    config = json.loads((directory / "config.json").read_text())
    assert config["model_file"] == expected
    assert str(model_file.parent) not in (directory / "config.json").read_text()  # which file, never where


def test_it_loads_only_with_that_very_file(made, tmp_path):
    made, model_file = made
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with pytest.raises(IntegrityError) as refused:
        zoo.load(made.reference, context=session(tmp_path))
    assert "\n" not in str(refused.value)
    assert "made from the Python file my_net.py (function build" in str(refused.value)
    assert "--model-file PATH/my_net.py:build" in str(refused.value)

    reloaded = zoo.load(made.reference, model_file=f"{model_file}:build", context=session(tmp_path))
    with torch.inference_mode():
        assert torch.equal(reloaded(images), made.model(images))

    model_file.write_text(MODEL_FILE + "\n# edited\n")
    with pytest.raises(IntegrityError, match="but the file given, my_net.py:build, has sha256 .*: give the file it "
                                             "was made from"):
        zoo.load(made.reference, model_file=f"{model_file}:build", context=session(tmp_path))


def test_an_artifact_naming_a_file_never_makes_zoo_run_it(made, tmp_path, monkeypatch):
    # The file sits where the artifact's record says its name is; loading without --model-file must not run it.
    made, model_file = made
    before = runs(tmp_path)
    monkeypatch.chdir(model_file.parent)
    with pytest.raises(IntegrityError, match="zoo never imports a file that an artifact names"):
        zoo.load(made.reference, context=session(tmp_path))
    assert runs(tmp_path) == before


def test_no_plugin_can_register_a_file_architecture(tmp_path):
    from zoo import ModelSpec, hookimpl

    class Impostor:
        @hookimpl
        def register_models(self, register):
            register(ModelSpec("file:my_net.build", lambda n: torch.nn.Linear(1, n), description="not a file"))

    host = PluginHost()
    host.add(Impostor(), "impostor")
    with pytest.raises(PluginError, match="model names starting with 'file:' are reserved"):
        host.catalog(strict=True)


@pytest.mark.parametrize("reference, message", [
    ("missing.py:build", "model file missing.py: no such file"),
    ("{file}:nosuch", "has no function 'nosuch'; it defines: build"),
])
def test_a_bad_model_file_is_one_line(reference, message, model_file, tmp_path):
    with pytest.raises(SettingError, match=message):
        zoo.quantize(reference.format(file=model_file), "x86-histogram", context=session(tmp_path), **SMALL)


def test_the_command_line_says_the_file_is_run_and_takes_it_again_to_load(made, tmp_path):
    made, model_file = made
    env = {**os.environ, "ZOO_REGISTRY": str(tmp_path / "registry")}
    zoo_cli = [sys.executable, "-m", "zoo"]
    helped = subprocess.run([*zoo_cli, "quantize", "--help"], capture_output=True, text=True, env=env)
    assert "zoo runs that file: it is your code, run because you named it" in " ".join(helped.stdout.split())
    name = made.reference.split("@")[0]
    refused = subprocess.run([*zoo_cli, "eval", name], capture_output=True, text=True, env=env)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    checked = subprocess.run([*zoo_cli, "--model-file", f"{model_file}:build", "eval", name], capture_output=True,
                             text=True, env=env)
    assert checked.returncode == 0, checked.stderr
    assert "matches the card" in checked.stdout


def test_float_weights_for_a_model_file_are_trained_and_then_found_by_quantize(model_file, tmp_path):
    # The error for missing weights names a command that works; that command records weights quantize finds.
    context = session(tmp_path)
    reference = f"{model_file}:build"
    with pytest.raises(zoo.NoWeightsError, match="`zoo train PATH/my_net.py:build --dataset fashion-mnist`"):
        zoo.quantize(reference, "x86-histogram", context=context, **{**SMALL, "weights": None})
    trained = zoo.train(reference, epochs=1, train_limit=64, eval_limit=16, batch_size=32, context=context)
    assert trained.reference.startswith("file-my_net.build-fashion-mnist@") and trained.card.model_file is not None
    made = zoo.quantize(reference, "x86-histogram", context=context, **{**SMALL, "weights": None})
    assert made.card.parent is not None and made.card.parent["name"] == trained.reference[:len(
        "file-my_net.build-fashion-mnist@") + 12]


def test_another_file_or_function_than_the_recorded_one_is_named_as_such(made, tmp_path):
    made, model_file = made
    copy = model_file.with_name("other.py")
    copy.write_bytes(model_file.read_bytes())
    with pytest.raises(IntegrityError, match=r"the file given \(other.py:build\) is not my_net.py:build"):
        zoo.load(made.reference, model_file=f"{copy}:build", context=session(tmp_path))
