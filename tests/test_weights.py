"""Choosing float weights: published checkpoints verified against their file names, zoo's safetensors, clear refusals."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from zoo.core.errors import IncompatibleError, UnknownNameError, ZooError
from zoo.host.plugins import PluginHost
from zoo.jobs import weights
from zoo.state_dicts import state_dict_digest


@pytest.fixture()
def catalog():
    return PluginHost().catalog()


def torchvision_checkpoint(enum_name: str, member: str, module: str = "torchvision.models") -> Path:
    """Where torchvision's weights API looks for ``enum.member`` before downloading it."""
    import importlib

    url = getattr(getattr(importlib.import_module(module), enum_name), member).url
    return Path(os.environ["TORCH_HOME"]) / "hub" / "checkpoints" / url.rsplit("/", 1)[-1]


@pytest.fixture()
def resnet18_imagenet_checkpoint(catalog):
    """A locally made float ResNet18 state dict, in torch.hub's cache under a name carrying its own sha256 prefix
    (torch.hub's convention), and a ResNet18 spec whose weights load it; returns (state, spec)."""
    import dataclasses
    import hashlib
    import io

    from torchvision.models import resnet18

    from zoo import KnownWeights, checkpoints
    torch.manual_seed(1)
    state = resnet18(weights=None, num_classes=1000).state_dict()
    buffer = io.BytesIO()
    torch.save(state, buffer)
    name = f"resnet18-local-{hashlib.sha256(buffer.getvalue()).hexdigest()[:8]}.pth"
    path = Path(os.environ["TORCH_HOME"]) / "hub" / "checkpoints" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    url = f"https://models.invalid/{name}"
    known = KnownWeights("imagenet1k-local", "imagenet-1k", 1000, source="a locally made checkpoint",
                         load=lambda: checkpoints.load_state_dict(url, "local ResNet18 weights"))
    yield state, dataclasses.replace(catalog.model("resnet18"), weights=(known,))
    path.unlink()


def test_published_weights_load_from_the_hub_cache_without_downloading(resnet18_imagenet_checkpoint):
    state, spec = resnet18_imagenet_checkpoint
    choice = weights.resolve(spec, "imagenet-1k", "imagenet1k-local")
    assert choice.source == "a locally made checkpoint" and choice.num_classes == 1000
    model = spec.build(1000)
    digest = weights.load_into(model, choice, 1000)
    for key, tensor in state.items():
        assert torch.equal(model.state_dict()[key], tensor), key
    assert digest == state_dict_digest(state)


def test_a_file_at_torchvisions_path_that_is_not_the_published_one_is_refused(catalog):
    """Where zoo tells offline users to put the file; torch.hub alone would load whatever lies there."""
    from zoo.core.errors import IntegrityError

    path = torchvision_checkpoint("ResNet18_Weights", "IMAGENET1K_V1")
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"conv1.weight": torch.zeros(1)}, path)
    try:
        choice = weights.resolve(catalog.model("resnet18"), "imagenet-1k", "imagenet1k-v1")
        with pytest.raises(IntegrityError, match=f"torchvision weights ResNet18_Weights.IMAGENET1K_V1: {path} is not "
                                                 "the published file: its name says sha256 f37072fd"):
            choice.load()
    finally:
        path.unlink()


@pytest.mark.expect_blocked_network
def test_torchvision_weights_absent_with_no_network_say_where_to_put_them(catalog):
    choice = weights.resolve(catalog.model("tv_mobilenet_v2"), "imagenet-1k", "imagenet1k-v1")
    expected = torchvision_checkpoint("MobileNet_V2_Weights", "IMAGENET1K_V1")
    with pytest.raises(ZooError, match=f"place the file at {expected}"):
        choice.load()


def test_weights_whose_class_count_disagrees_with_the_dataset_are_refused(resnet18_imagenet_checkpoint):
    state, spec = resnet18_imagenet_checkpoint
    choice = weights.resolve(spec, "fashion-mnist", "imagenet1k-local")
    with pytest.raises(IncompatibleError, match="classify 1000 classes but the dataset has 10"):
        weights.load_into(spec.build(10), choice, 10)
    # Fine-tuning keeps every tensor that fits and leaves the new classifier as built.
    model = spec.build(10)
    head = model.fc.weight.clone()
    weights.load_into(model, choice, 10, allow_new_head=True)
    assert torch.equal(model.conv1.weight, state["conv1.weight"])
    assert torch.equal(model.fc.weight, head)


def test_pickled_weights_files_are_refused(tmp_path, catalog):
    path = tmp_path / "model.pth"
    path.write_bytes(b"not read")
    with pytest.raises(ZooError, match="zoo never unpickles"):
        weights.resolve(catalog.model("resnet18"), "fashion-mnist", str(path))


def test_quantized_weights_are_not_a_float_starting_point(catalog):
    with pytest.raises(IncompatibleError, match="already quantized"):
        weights.resolve(catalog.model("resnet18"), "imagenet-1k", "imagenet1k-fbgemm-v1")


def test_unknown_weights_name_lists_the_choices(catalog):
    with pytest.raises(UnknownNameError, match="valid choices: imagenet1k-v1, random"):
        weights.resolve(catalog.model("resnet18"), "imagenet-1k", "imagenet1k-v2")


def test_missing_default_weights_say_how_to_train_them(catalog):
    with pytest.raises(ZooError, match="zoo train resnet18 --dataset fashion-mnist"):
        weights.resolve(catalog.model("resnet18"), "fashion-mnist", None)


def test_safetensors_weights_round_trip_with_their_card(tmp_path, catalog):
    from safetensors.torch import save_file

    spec = catalog.model("mobilenet_v2")
    torch.manual_seed(2)
    state = spec.build(10).state_dict()
    path = tmp_path / "mine.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, path)
    choice = weights.resolve(spec, "fashion-mnist", str(path))
    model = spec.build(10)
    weights.load_into(model, choice, 10)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())
