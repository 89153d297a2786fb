"""How to feed a model: config.json records its preprocessing and class names, zoo.transform and
zoo.load(with_transform=True) give the transform, and `zoo predict` classifies image files with them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from PIL import Image

import zoo
from tests.conftest import BUILTIN_PLUGINS
from zoo import data
from zoo.host.plugins import get_catalog

FASHION_LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                  "Ankle boot"]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A small int8 model from the shipped Fashion-MNIST weights, and the registry holding it."""
    context = zoo.Context.from_environment(registry=tmp_path_factory.mktemp("predict") / "registry")
    made = zoo.quantize("mobilenet_v2", "fbgemm-histogram", eval_limit=64, calibration_images=64, latency_runs=2,
                        context=context)
    return made, context


@pytest.fixture(scope="module")
def fashion_test():
    spec = get_catalog().dataset("fashion-mnist")
    config = data.resolve(spec, None, None, 3)
    return spec.build("test", None, config.root, download=False), data.load_split(spec, config, "test")


def test_config_records_how_to_feed_the_model_and_its_class_names(made):
    made, context = made
    config, _, _ = context.registry.open(context.registry.resolve(made.reference))
    assert config.preprocessing is not None and config.preprocessing.to_dict() == {"image_size": 32, "resize": "resize", "channels": 1, "mean": [0.286],
                                       "std": [0.353], "in_channels": 3}
    assert config.labels == list(FASHION_LABELS)


def test_the_transform_feeds_the_model_exactly_as_evaluation_did(made, fashion_test):
    made, context = made
    raw, evaluated = fashion_test
    preprocess = zoo.transform(made.reference, context=context)
    assert list(preprocess.labels) == FASHION_LABELS
    for i in range(5):
        image, _ = raw[i]
        assert torch.equal(preprocess(image), evaluated[i][0])
        # A colour copy of the grey image, as a user might have it, is turned back into grey.
        assert torch.allclose(preprocess(image.convert("RGB")), evaluated[i][0], atol=1e-6)
    model, again = zoo.load(made.reference, with_transform=True, context=context)
    assert again == preprocess
    tensor_image = torch.from_numpy(__import__("numpy").array(raw[0][0]))[None]
    assert torch.equal(again(tensor_image), evaluated[0][0])
    with pytest.raises(ValueError, match="uint8 tensor"):
        again(torch.rand(3, 28, 28))


def test_zoo_predict_classifies_image_files_and_reports_a_broken_one_on_its_own_line(made, fashion_test, tmp_path):
    made, context = made
    raw, evaluated = fashion_test
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(4):
        raw[i][0].save(folder / f"item{i}.png")
    Image.open(folder / "item0.png").convert("RGB").resize((90, 70)).save(folder / "big-colour.jpg")
    (folder / "broken.png").write_bytes(b"this is not an image")
    env = {**os.environ, "ZOO_REGISTRY": str(context.registry_root)}
    done = subprocess.run([sys.executable, "-m", "zoo", "predict", made.reference, str(folder), "--json"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"Error: cannot read {folder / 'broken.png'} as an image (cannot identify image file "
        f"'{folder / 'broken.png'}')"]
    results = {result["image"]: result for result in json.loads(done.stdout)}
    assert results[str(folder / "broken.png")] == {"image": str(folder / "broken.png"),
                                                   "error": done.stderr.strip().removeprefix("Error: ")}
    with torch.inference_mode():
        expected = made.model(torch.stack([evaluated[i][0] for i in range(4)])).argmax(1).tolist()
    for i in range(4):
        [top, *_] = results[str(folder / f"item{i}.png")]["predictions"]
        assert (top["class"], top["label"]) == (expected[i], FASHION_LABELS[expected[i]])
        assert 0 <= top["score"] <= 100
    assert len(results[str(folder / "big-colour.jpg")]["predictions"]) == 3


def test_predict_needs_no_dataset_plugin_and_refuses_a_missing_file_in_one_line(made, tmp_path, fashion_test):
    made, context = made
    raw, _ = fashion_test
    raw[0][0].save(tmp_path / "boot.png")
    without_datasets = ",".join(name for name in BUILTIN_PLUGINS if name != "datasets")
    env = {**os.environ, "ZOO_REGISTRY": str(context.registry_root), "ZOO_PLUGINS": without_datasets}
    done = subprocess.run([sys.executable, "-m", "zoo", "predict", made.reference, str(tmp_path / "boot.png"),
                           "--top-k", "1"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Ankle boot" in done.stdout
    missing = subprocess.run([sys.executable, "-m", "zoo", "predict", made.reference, str(tmp_path / "nope.png")],
                             env=env, capture_output=True, text=True, timeout=300)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        f"Error: {tmp_path / 'nope.png'}: no such image file, directory or matching glob pattern"]
