"""The input size a job runs at: the dataset's, else the model's declared one when the dataset's would break it;
a size the user chose that the model cannot take is one line naming the smallest that works."""

from __future__ import annotations

import json
import types

import pytest
from click.testing import CliRunner
from torch import nn

from zoo import ModelSpec, hookimpl
from zoo.cli import main
from zoo.host.plugins import host
from zoo.nn import DeQuantStub, QuantStub


class NeedsForty(nn.Module):
    """Like torchvision's ShuffleNetV2 at 32x32, it fails inside its forward below a size: here 40 pixels."""

    def __init__(self, num_classes: int):
        super().__init__()
        self.quant, self.dequant = QuantStub(), DeQuantStub()
        self.conv = nn.Conv2d(3, 4, 3)
        self.head = nn.Linear(4, num_classes)

    def forward(self, x):
        if x.shape[-1] < 40:
            raise RuntimeError(f"input of {x.shape[-1]} pixels is too small for this network")
        x = self.conv(self.quant(x)).mean((2, 3))
        return self.dequant(self.head(x))


@pytest.fixture
def needs_forty(monkeypatch, tmp_path):
    plugin = types.SimpleNamespace()

    @hookimpl
    def register_models(register):
        register(ModelSpec("needs_forty", NeedsForty, input_size=64, description="fails below 40 pixels"))

    plugin.register_models = register_models
    host.add(plugin, "needs_forty")
    monkeypatch.setenv("ZOO_REGISTRY", str(tmp_path / "registry"))
    yield
    host.remove("needs_forty")


SMALL = ["--weights", "random", "--eval-limit", "8", "--calibration-images", "8", "--latency-runs", "2",
         "--runtimes", "eager", "--json"]


def test_the_declared_input_size_is_used_when_the_datasets_would_break_the_model(needs_forty):
    result = CliRunner().invoke(main, ["quantize", "needs_forty", "-p", "fbgemm-minmax", *SMALL])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["dataset"]["image_size"] == 64  # Fashion-MNIST is 32: the model's 64 instead


def test_a_chosen_size_the_model_cannot_take_is_one_line_with_the_smallest_that_works(needs_forty):
    result = CliRunner().invoke(main, ["quantize", "needs_forty", "-p", "fbgemm-minmax", "--image-size", "32", *SMALL])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "Error: model 'needs_forty' (plugin 'needs_forty') cannot run on 32x32 inputs (RuntimeError: input of 32 "
        "pixels is too small for this network); the smallest size that works is 40: pass --image-size 40 or more"]
    assert result.stdout == ""
