"""The command line, driven end to end on small subsets of real Fashion-MNIST."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner

from zoo import ModelSpec, Preset, hookimpl
from zoo.cli import main
from zoo.core.specs import Observer
from zoo.host.plugins import host

SMALL = ["--eval-limit", "64", "--calibration-images", "32", "--latency-runs", "3", "--runtimes", "eager", "--weights", "random"]


def zoo(*args: str, input=None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def zoo_json(*args: str):
    result = zoo(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_help_teaches_and_does_not_import_torch():
    code = ("import sys; from zoo.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'zoo --help imported torch'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ)
    assert done.returncode == 0, done.stderr
    assert "zoo quantize mobilenet_v2 --preset fbgemm-histogram" in done.stdout
    for command in ("quantize", "train", "models", "presets", "datasets", "plugins"):
        assert command in done.stdout


def test_listings_as_json():
    models = {m["name"]: m for m in zoo_json("models")}
    assert set(models) >= {"mobilenet_v2", "resnet18", "tv_mobilenet_v2"}
    assert models["resnet18"]["plugin"] == "torchvision_models"
    assert {w["name"] for w in models["resnet18"]["weights"]} == {"imagenet1k-v1", "imagenet1k-fbgemm-v1"}
    presets = {p["name"]: p for p in zoo_json("presets")}
    assert presets["fbgemm-histogram"]["activation"] == "histogram"
    assert presets["fbgemm-histogram"]["weight"] == "per_channel_minmax"
    assert presets["dynamic-int8"]["dynamic_modules"] == ["torch.nn.Linear", "torch.nn.LSTM"]
    assert all(p["description"] for p in presets.values())
    datasets = {d["name"]: d for d in zoo_json("datasets")}
    assert datasets["imagefolder"]["needs_path"] and datasets["fashion-mnist"]["num_classes"] == 10
    plugins = {p["name"]: p for p in zoo_json("plugins")}
    assert plugins["presets"]["version"] and plugins["presets"]["errors"] == []


def test_listings_as_tables():
    result = zoo("presets")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0].split() == ["preset", "backends", "engine", "method", "description"]
    assert "fbgemm-histogram" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["quantize", "mobilenetv2", "--preset", "fbgemm-histogram"],
     "valid choices, the nearest: mobilenet_v2, tv_mobilenet_v2, tv:mobilenet_v2, "),
    (["quantize", "mobilenet_v2", "--preset", "fbgemm-histo"], "did you mean 'fbgemm-histogram'?"),
    (["quantize", "mobilenet_v2", "--preset", "fbgemm-histogram", "--dataset", "fashion_mnist"],
     "unknown dataset 'fashion_mnist'; valid choices: cifar10, fashion-mnist, imagefolder, imagenet-1k; did you mean 'fashion-mnist'?"),
    (["quantize", "resnet18", "--preset", "fbgemm-histogram", "--weights", "imagenet1k"],
     "unknown weights for 'resnet18' 'imagenet1k'"),
    (["train", "resnet18", "--dataset", "imagefolder"], "dataset 'imagefolder' needs --data-dir DIR"),
])
def test_bad_names_get_one_line_and_exit_2(args, message):
    result = zoo(*args)
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [f"Error: {message}"] or message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


class OddPlugin:
    """A model that goes through the eager backend only, and a preset for an engine no backend has."""

    @hookimpl
    def register_models(self, register):
        from zoo_plugins.mobilenet_v2 import build, fuse

        register(ModelSpec("eager_only", build, description="eager only", fuse=fuse, backends=("eager",)))

    @hookimpl
    def register_presets(self, register):
        register(Preset("imaginary-minmax", "imaginary", "static", description="an engine no CPU has",
                        activation=Observer("minmax"), weight=Observer("minmax", dtype="qint8", symmetric=True)))


class Branchy(torch.nn.Module):
    """Control flow on a tensor's value: neither torch.fx nor torch.export can capture it."""

    def __init__(self, num_classes: int):
        super().__init__()
        self.conv, self.head = torch.nn.Conv2d(3, 4, 3), torch.nn.Linear(4, num_classes)

    def forward(self, x):
        x = self.conv(x)
        if x.mean() > 0:
            x = x.relu()
        return self.head(x.mean(dim=(2, 3)))


class BranchyPlugin:
    @hookimpl
    def register_models(self, register):
        register(ModelSpec("branchy", Branchy, description="data-dependent control flow", input_size=16))


@pytest.mark.parametrize("preset, backend, why", [
    ("x86-pt2e", "pt2e", "Branchy cannot go through backend 'pt2e': torch.export cannot export it"),
    ("fbgemm-minmax", "fx", "Branchy cannot go through backend 'fx': torch.fx cannot trace it"),
])
def test_a_model_a_backend_cannot_capture_is_refused_in_one_line(preset, backend, why):
    host.add(BranchyPlugin(), "branchy")
    try:
        result = zoo("quantize", "branchy", "--preset", preset, "--backend", backend, "--weights", "random",
                     "--image-size", "16", "--eval-limit", "8", "--calibration-images", "8", "--runtimes", "eager")
    finally:
        host.remove("branchy")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"Error: model 'branchy': {why} (")
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.fixture()
def odd_plugin():
    host.add(OddPlugin(), "odd")
    yield
    host.remove("odd")


def test_a_backend_the_model_does_not_go_through_is_refused(odd_plugin):
    result = zoo("quantize", "eager_only", "--preset", "fbgemm-minmax", "--backend", "fx", "--weights", "random")
    assert result.exit_code == 2
    assert "model 'eager_only' does not go through backend 'fx'; it goes through: eager" in result.stderr
    # --mode is the option's earlier name
    result = zoo("quantize", "eager_only", "--preset", "fbgemm-minmax", "--mode", "fx", "--weights", "random")
    assert result.exit_code == 2 and "does not go through backend 'fx'" in result.stderr


def test_a_preset_for_an_engine_its_backends_lack_is_refused_when_it_registers(odd_plugin):
    listing = {p["name"]: p for p in zoo_json("plugins")}
    assert listing["odd"]["errors"] == ["preset 'imaginary-minmax': no installed plugin provides a backend with engine "
                                        "'imaginary' for static quantization; backends: eager, fx, pt2e"]
    result = zoo("quantize", "mobilenet_v2", "--preset", "imaginary-minmax", "--weights", "random")
    assert result.exit_code == 2
    assert "unknown preset 'imaginary-minmax'" in result.stderr


def test_an_engine_this_cpu_lacks_is_refused():
    from zoo.core.errors import IncompatibleError
    from zoo.quantization.backends.torch_ao import check_engine

    with pytest.raises(IncompatibleError, match="quantized engine 'imaginary' is not available on this CPU/torch "
                                                "build; available:"):
        check_engine("imaginary")


def test_weights_with_another_class_count_are_refused(tmp_path):
    from safetensors.torch import save_file

    from zoo_plugins.mobilenet_v2 import build

    path = tmp_path / "hundred.safetensors"
    save_file({k: v.contiguous() for k, v in build(100).state_dict().items()}, path)
    result = zoo("quantize", "mobilenet_v2", "--preset", "fbgemm-minmax", "--weights", str(path))
    assert result.exit_code == 2
    assert "do not fit this model for 10 classes: classifier.1." in result.stderr
    assert "has shape (100" in result.stderr


def _check_result(result: dict, arch: str, preset: str, images: int = 64) -> None:
    assert (result["arch"], result["preset"]) == (arch, preset)
    assert result["dataset"] == {"name": "fashion-mnist", "hub_id": "zalando-datasets/fashion_mnist", "split": "test",
                                 "images": images, "image_size": 32, "num_classes": 10}
    for side in ("metrics", "baseline"):
        entry = result[side]
        assert 0 <= entry["top1"] <= entry["top5"] <= 100
        assert entry["size_bytes"] > 0
        assert set(entry["latency"]) >= {"p50_ms", "p90_ms", "batch_size", "threads"}
        assert 0 < entry["latency"]["p50_ms"] <= entry["latency"]["p90_ms"]
    assert result["metrics"]["size_bytes"] < result["baseline"]["size_bytes"]


@pytest.mark.parametrize("preset, backend", [("fbgemm-histogram", "eager"), ("fbgemm-minmax", "fx"),
                                             ("qnnpack-histogram", "eager"), ("dynamic-int8", "fx")])
def test_quantize_static_and_dynamic(preset, backend):
    result = zoo_json("quantize", "mobilenet_v2", "--preset", preset, "--backend", backend, *SMALL)
    _check_result(result, "mobilenet_v2", preset)
    assert result["backend"] == backend
    if preset == "dynamic-int8":
        assert "calibration" not in result
    else:
        assert result["calibration"] == {"split": "train", "images": 32}
    assert result["metrics"]["latency"]["engine"] == preset.split("-")[0] if preset != "dynamic-int8" else True


def test_quantize_aware_training_follows_the_recipe():
    result = zoo_json("quantize", "resnet18", "--preset", "fbgemm-qat", *SMALL, "--qat-epochs", "3",
                      "--qat-batches", "2", "--freeze-bn-after", "1", "--freeze-observers-after", "2")
    _check_result(result, "resnet18", "fbgemm-qat")
    history = result["qat"]["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert [h["bn_frozen"] for h in history] == [True, True, True]
    assert [h["observers_frozen"] for h in history] == [False, True, True]
    assert all(h["images"] == 2 * 30 for h in history)


def test_quantize_prints_a_float_versus_int8_table():
    result = zoo("quantize", "mobilenet_v2", "--preset", "x86-histogram", "--fused-baseline", *SMALL)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("mobilenet_v2 · x86-histogram (static PTQ, backend eager, engine x86)")
    assert "float weights: random" in lines[1]
    header = lines.index(next(line for line in lines if line.startswith("model ")))
    assert lines[header].split() == ["model", "top-1", "top-5", "size", "runtime", "latency", "p50", "p90"]
    labels = [line.split("  ")[0] for line in lines[header + 2:header + 6]]
    assert labels == ["float", "fused float", "int8", "change"]


def test_json_output_is_clean_on_stdout_in_a_real_process():
    """Progress and warnings go to stderr; stdout parses as one JSON object."""
    env = {**os.environ, "ZOO_NO_PROGRESS": ""}
    done = subprocess.run([sys.executable, "-m", "zoo", "quantize", "mobilenet_v2", "--preset", "fbgemm-minmax",
                           *SMALL, "--json"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["preset"] == "fbgemm-minmax"
    assert "evaluating int8" in done.stderr


def test_train_writes_weights_and_card_that_quantize_uses(tmp_path):
    out = tmp_path / "tiny.safetensors"
    card = zoo_json("train", "mobilenet_v2", "--epochs", "1", "--train-limit", "64", "--eval-limit", "32",
                    "--batch-size", "32", "--output", str(out))
    assert out.exists() and out.with_suffix(".json").exists()
    assert card["dataset"]["train_images"] == 64 and card["metrics"]["size_bytes"] == out.stat().st_size
    assert card["command"].startswith("zoo train mobilenet_v2")
    result = zoo_json("quantize", "mobilenet_v2", "--preset", "fbgemm-minmax", "--weights", str(out),
                      "--eval-limit", "32", "--calibration-images", "16", "--latency-runs", "2", "--runtimes", "eager")
    assert result["parent"]["sha256"] and result["parent"]["source"].startswith("trained by zoo")


def test_interrupted_training_leaves_no_file(tmp_path, monkeypatch):
    from zoo.jobs import train as train_job
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_job, "train_float", interrupted)
    out = tmp_path / "never.safetensors"
    result = zoo("train", "mobilenet_v2", "--epochs", "1", "--train-limit", "8", "--output", str(out))
    assert result.exit_code == 130
    assert "Interrupted: nothing was written." in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_interrupted_quantize_records_nothing(tmp_path, monkeypatch):
    from zoo.quantization import pipeline
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "calibrate", interrupted)
    result = zoo("--registry", str(tmp_path / "registry"), "quantize", "mobilenet_v2", "-p", "fbgemm-minmax", *SMALL)
    assert result.exit_code == 130
    listed = zoo("--registry", str(tmp_path / "registry"), "list", "--json")
    assert json.loads(listed.stdout) == []


def test_quantize_on_an_image_folder(tmp_path):
    from PIL import Image

    for split in ("train", "val"):
        for index, name in enumerate(("circle", "square", "stripe")):
            folder = tmp_path / "images" / split / name
            folder.mkdir(parents=True)
            for i in range(4):
                Image.new("RGB", (48, 40), color=(80 * index, 20 * i, 100)).save(folder / f"{i}.png")
    result = zoo_json("quantize", "resnet18", "-p", "fbgemm-minmax", "-d", "imagefolder", "--data-dir",
                      str(tmp_path / "images"), "--image-size", "32", "--weights", "random",
                      "--calibration-images", "6", "--latency-runs", "2", "--runtimes", "eager")
    assert result["dataset"] == {"name": "imagefolder", "split": "test", "images": 12, "image_size": 32,
                                 "num_classes": 3}
    assert result["calibration"]["images"] == 6


def test_the_size_change_says_larger_when_the_int8_file_outweighs_the_float_one():
    from zoo.cli.report import size_change

    assert size_change(9_110_000, 2_620_000) == "3.48x smaller"
    assert size_change(1000, 1280) == "1.28x larger"  # not "0.78x smaller"
    assert size_change(1000, 1000) == "1.00x smaller"
