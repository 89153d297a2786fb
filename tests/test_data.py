"""Datasets: Fashion-MNIST found on disk, ImageFolder at a path, clear errors when data is absent."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from zoo import data
from zoo.core.errors import DatasetUnavailableError, ZooError
from zoo.host.plugins import PluginHost
from zoo_plugins import datasets as builtin_datasets


@pytest.fixture()
def catalog():
    return PluginHost().catalog()


def test_fashion_mnist_is_found_on_disk_and_shaped_for_the_model(catalog):
    spec = catalog.dataset("fashion-mnist")
    config = data.resolve(spec, None, None, in_channels=3)
    assert (config.num_classes, config.image_size) == (10, 32)
    test = data.load_split(spec, config, "test")
    train = data.load_split(spec, config, "train")
    assert (len(train), len(test)) == (60000, 10000)
    image, label = test[0]
    assert image.shape == (3, 32, 32) and 0 <= label < 10
    # The grey channel is repeated, not invented.
    assert torch.equal(image[0], image[2])


@pytest.mark.expect_blocked_network
def test_fashion_mnist_absent_with_no_network_says_where_it_looked(tmp_path, monkeypatch, catalog):
    monkeypatch.setattr(builtin_datasets, "FASHION_MNIST_SYSTEM_DIRS", [str(tmp_path / "nowhere")])
    spec = catalog.dataset("fashion-mnist")
    config = data.resolve(spec, str(tmp_path / "fm"), None, in_channels=1)
    with pytest.raises(DatasetUnavailableError) as info:
        data.load_split(spec, config, "test")
    message = str(info.value)
    assert "could not be downloaded" in message
    assert str(tmp_path / "nowhere") in message and "apt-get install dataset-fashion-mnist" in message
    # Nothing half-downloaded is left behind.
    assert not any(p.name.startswith(".") for p in (tmp_path / "fm").parent.iterdir() if p.is_dir())


@pytest.mark.expect_blocked_network
def test_cifar10_absent_with_no_network_is_a_clear_error(tmp_path, catalog):
    spec = catalog.dataset("cifar10")
    config = data.resolve(spec, str(tmp_path / "c10"), None, in_channels=3)
    with pytest.raises(DatasetUnavailableError, match="dataset 'cifar10' is not in .* could not be downloaded"):
        data.load_split(spec, config, "train")


def _image_folder(root: Path, classes=("cat", "dog", "fox"), per_class=2) -> Path:
    from PIL import Image

    for split in ("train", "val"):
        for index, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                Image.new("RGB", (40, 30), color=(40 * index, 10 * i, 200)).save(folder / f"{i}.png")
    return root


def test_imagefolder_reads_the_tutorial_layout(tmp_path, catalog):
    root = _image_folder(tmp_path / "imagenet_1k")
    spec = catalog.dataset("imagefolder")
    config = data.resolve(spec, str(root), 64, in_channels=3)
    assert config.num_classes == 3
    val = data.load_split(spec, config, "test")
    assert len(val) == 6 and val[0][0].shape == (3, 64, 64)


def test_imagefolder_needs_a_path_and_its_splits(tmp_path, catalog):
    spec = catalog.dataset("imagefolder")
    with pytest.raises(ZooError, match="needs --data-dir"):
        data.resolve(spec, None, None, in_channels=3)
    (tmp_path / "train" / "a").mkdir(parents=True)
    config = data.resolve(spec, str(tmp_path), None, in_channels=3)
    with pytest.raises(DatasetUnavailableError, match=r"no test split: expected .*val/ or .*test/"):
        data.load_split(spec, config, "test")


def test_sample_is_fixed_by_the_seed():
    dataset = list(range(100))
    first = list(data.sample(dataset, 10, seed=3))
    assert first == list(data.sample(dataset, 10, seed=3))
    assert first != list(data.sample(dataset, 10, seed=4))
    assert len(data.first(dataset, 7)) == 7 and data.first(dataset, None) is dataset


def test_imagenet_reads_the_layout_and_refuses_a_partial_class_set(tmp_path, catalog):
    from PIL import Image

    spec = catalog.dataset("imagenet-1k")
    wnids = [f"n{index:08d}" for index in range(1000)]
    for index, name in enumerate(wnids):  # ImageFolder refuses empty class directories
        (tmp_path / "val" / name).mkdir(parents=True)
        Image.new("RGB", (12, 10), color=(index % 256, 0, 0)).save(tmp_path / "val" / name / "0.png")
    config = data.resolve(spec, str(tmp_path), None, in_channels=3)
    assert config.num_classes == 1000 and config.image_size == 224
    val = data.load_split(spec, config, "test")
    assert len(val) == 1000 and val[0][0].shape == (3, 224, 224) and val[999][1] == 999
    shutil.rmtree(tmp_path / "val" / wnids[-1])
    with pytest.raises(DatasetUnavailableError, match="needs 1000 class directories .* found 999"):
        data.load_split(spec, config, "test")
