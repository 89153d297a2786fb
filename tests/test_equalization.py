"""Cross-layer equalization: the float function is kept, weight ranges are evened out, only pairs joined by nothing
but a ReLU are touched, and a model made with it is recorded, rebuilt and explained like any other."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from torch import nn

from tests.test_cli import SMALL, zoo
from tests.test_codec import random_images
from zoo.host.plugins import get_catalog
from zoo.quantization import equalization, pipeline
from zoo.testing import settle_batch_norm

pytestmark = pytest.mark.usefixtures("one_thread")


def fused(arch: str) -> nn.Module:
    catalog = get_catalog()
    spec = catalog.model(arch)
    torch.manual_seed(0)
    model = settle_batch_norm(spec.build(10), random_images(8, seed=0))
    return pipeline.fuse(model, spec, list(catalog.fusion_patterns.values()), False, catalog).eval()


def spread(model: nn.Module, paths) -> float:
    """Mean over ``paths`` of a layer's widest output-channel weight range over its median one."""
    ratios = []
    for path in paths:
        ranges = model.get_submodule(path).weight.detach().abs().flatten(1).amax(dim=1)
        ratios.append(float(ranges.max() / ranges.median()))
    return sum(ratios) / len(ratios)


@pytest.mark.parametrize("arch", ["mobilenet_v2", "resnet18"])
def test_equalization_keeps_the_function_and_evens_out_the_weights(arch):
    before = fused(arch)
    after = copy.deepcopy(before)
    count = equalization.equalize(after)
    found = equalization.pairs(before)
    assert count == len(found) > 0
    images = random_images(4, seed=5)
    with torch.no_grad():
        assert torch.allclose(after(images), before(images), rtol=1e-4, atol=1e-4)
    firsts = [first for first, _ in found]
    assert spread(after, firsts) < spread(before, firsts)


class Clipped(nn.Module):
    def __init__(self, activation: nn.Module):
        super().__init__()
        self.a, self.act, self.b = nn.Conv2d(3, 8, 1), activation, nn.Conv2d(8, 8, 3, groups=8)

    def forward(self, x):
        return self.b(self.act(self.a(x)))


def test_only_a_relu_may_stand_between_the_two_layers():
    # ReLU6 clips at 6, so scaling its input changes what it lets through.
    assert equalization.pairs(Clipped(nn.ReLU())) == [("a", "b")]
    assert equalization.pairs(Clipped(nn.ReLU6())) == []
    assert equalization.pairs(Clipped(nn.Identity())) == [("a", "b")]


def test_quantize_equalize_is_recorded_and_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(tmp_path))
    shipped_weights = SMALL[:SMALL.index("--weights")]  # explain needs trained weights to measure anything
    result = zoo("quantize", "mobilenet_v2", "--preset", "qnnpack-minmax", "--equalize", *shipped_weights, "--name",
                 "cle", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["equalize"] is True
    config = json.loads(next(tmp_path.rglob("config.json")).read_text())
    assert config["preset"]["equalize"] is True
    assert "cross-layer equalization" in zoo("show", "cle").output
    assert zoo("eval", "cle").exit_code == 0
    explained = zoo("explain", "cle", "--images", "8", "--json")
    assert explained.exit_code == 0, explained.output
    # Explained against the equalized float model: against the float model as trained, whose channels are scaled
    # otherwise, every equalized layer measured below 0 dB.
    assert min(layer["sqnr_db"] for layer in json.loads(explained.stdout)["layers"]) > 10


def test_equalization_elsewhere_than_eager_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(tmp_path))
    result = zoo("quantize", "mobilenet_v2", "--preset", "qnnpack-minmax", "--equalize", "--backend", "fx", *SMALL)
    assert result.exit_code == 2 and "use --backend eager" in result.output
    assert not list(tmp_path.rglob("card.json"))
