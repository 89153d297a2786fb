"""timm's pretrained classifiers as timm:ARCH.TAG: declared as timm has them, listed without importing torch, weights
through timm's own Hub loading into the Hugging Face cache, and the tag's preprocessing carried into the artifact."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.hub_fixtures import hub_env, hub_server  # noqa: F401
from zoo_plugins import timm_models

timm = pytest.importorskip("timm")
TAG = "test_resnet.r160_in1k"  # timm's own test model: tiny, and normalised with 0.5 (not ImageNet's mean and std)


def test_the_declared_tags_are_what_the_installed_timm_offers():
    declared = json.loads(timm_models.DECLARED.read_text())
    if declared["timm"] == timm.__version__:
        assert declared["tags"] == timm_models.read_timm()
    else:  # a newer timm than the one declared: the listing comes from timm itself
        assert timm_models.listing() == timm_models.read_timm()
    assert timm_models.listing()[TAG] == {"architecture": "test_resnet", "image_size": 160, "mean": [0.5, 0.5, 0.5],
                                     "std": [0.5, 0.5, 0.5], "crop_ratio": 0.95, "hub": f"timm/{TAG}",
                                     "license": "apache-2.0"}


def test_models_lists_timm_tags_without_importing_torch():
    if json.loads(timm_models.DECLARED.read_text())["timm"] != timm.__version__:
        pytest.skip("the declared tags are for another timm: run python -m zoo_plugins.timm_models")
    code = ("import json, sys; from zoo.cli import main\n"
            "try:\n    main(['models', 'timm:resnet50.*', '--json'])\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules and 'timm' not in sys.modules, 'zoo models imported torch or timm'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ, timeout=120)
    assert done.returncode == 0, done.stderr
    listed = {m["name"]: m for m in json.loads(done.stdout)}
    assert "timm:resnet50.a1_in1k" in listed and all(name.startswith("timm:resnet50.") for name in listed)
    assert listed["timm:resnet50.a1_in1k"]["backends"] == ["fx", "pt2e"]
    [weights] = listed["timm:resnet50.a1_in1k"]["weights"]
    assert (weights["name"], weights["dataset"]) == ("a1_in1k", "imagenet-1k")


def fake_imagenet(root) -> None:
    """1000 class directories of one small image each, for train and val (the layout imagenet-1k reads)."""
    from PIL import Image

    for split in ("train", "val"):
        for index in range(1000):
            folder = root / split / f"n{index:08d}"
            folder.mkdir(parents=True)
            Image.new("RGB", (40, 32), color=(index % 256, (index * 7) % 256, 90)).save(folder / "0.png")


@pytest.mark.slow
def test_timm_weights_come_from_the_hub_cache_and_carry_their_preprocessing(hub_server, hub_env, tmp_path):
    import torch
    from safetensors.torch import save

    with torch.random.fork_rng():
        torch.manual_seed(0)
        state = timm.create_model("test_resnet", pretrained=False).state_dict()
    hub_server.put_files(f"timm/{TAG}", {"model.safetensors": save(state)})
    data_dir = tmp_path / "imagenet"
    fake_imagenet(data_dir)
    registry = tmp_path / "registry"
    args = [sys.executable, "-m", "zoo", "--registry", str(registry), "quantize", f"timm:{TAG}", "--preset",
            "x86-histogram", "--backend", "fx", "--dataset", "imagenet-1k", "--data-dir", str(data_dir),
            "--eval-limit", "8", "--calibration-images", "8", "--runtimes", "eager", "--latency-runs", "2", "--json"]
    done = subprocess.run(args, capture_output=True, text=True, env=hub_env, timeout=600)
    assert done.returncode == 0, done.stderr
    card = json.loads(done.stdout)
    assert (card["arch"], card["parent"]["name"], card["parent"]["hub_repo"]) == (f"timm:{TAG}", "r160_in1k",
                                                                                  f"timm/{TAG}")
    assert card["license"] == "apache-2.0" and card["dataset"]["image_size"] == 160
    name = card["name"]
    config = json.loads((registry / "models" / name / card["version"] / "config.json").read_text())
    assert config["preprocessing"] == {"image_size": 160, "resize": "resize_crop", "crop_ratio": 0.95, "channels": 3,
                                       "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "in_channels": 3}
    cached = list((tmp_path / "hf-home").rglob("model.safetensors"))
    assert len(cached) == 1, "timm's Hub loading puts the weights in the Hugging Face cache"

    # Offline, from the cache: the same float weights give the same int8 model.
    offline = {**hub_env, "HF_HUB_OFFLINE": "1"}
    again = subprocess.run([*args[:4], str(tmp_path / "offline"), *args[5:]], capture_output=True, text=True,
                           env=offline, timeout=600)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["metrics"]["top1"] == card["metrics"]["top1"]
