"""Eager-mode fusion from registered patterns, for models with no fuse_model of their own."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from zoo.core.errors import IncompatibleError
from zoo.core.specs import FusionPattern
from zoo.host.plugins import PluginHost
from zoo.quantization import fusion


@pytest.fixture()
def patterns():
    return list(PluginHost().catalog().fusion_patterns.values())


class Blocky(nn.Module):
    """Conv-BN-ReLU in a Sequential, Conv-BN then a functional add, Linear-ReLU at the head."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.conv = nn.Conv2d(8, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 8)
        self.act = nn.ReLU()
        self.out = nn.Linear(8, 4)

    def forward(self, x):
        x = self.stem(x)
        x = self.bn(self.conv(x)) + x
        x = x.mean([2, 3])
        return self.out(self.act(self.fc(x)))


class SharedRelu(nn.Module):
    """One ReLU module used after two convolutions: fusing it into either would be wrong."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 4, 1)
        self.b = nn.Conv2d(4, 4, 1)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.b(self.relu(self.a(x))))


class Branchy(nn.Module):
    """A BN whose conv output also feeds a second branch cannot fold into it."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.bn = nn.BatchNorm2d(4)
        self.side = nn.Conv2d(4, 4, 1)

    def forward(self, x):
        y = self.conv(x)
        return self.bn(y) + self.side(y)


class Untraceable(nn.Module):
    """Data-dependent control flow defeats torch.fx; the Sequential still says what follows what."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())

    def forward(self, x):
        if x.sum() > 0:
            return self.body(x)
        return self.body(-x)


def _trained_bn(model: nn.Module) -> nn.Module:
    """Give BatchNorm layers non-trivial statistics, so folding them is a real test."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(4, 3, 8, 8))
    return model.eval()


def test_patterns_fuse_along_the_data_flow_and_keep_the_numerics(patterns):
    torch.manual_seed(0)
    model = _trained_bn(Blocky())
    x = torch.randn(2, 3, 8, 8)
    expected = model(x)
    groups = fusion.apply_patterns(model, patterns)
    assert sorted(groups) == [["conv", "bn"], ["fc", "act"], ["stem.0", "stem.1", "stem.2"]]
    assert type(model.stem[0]).__name__ == "ConvReLU2d" and isinstance(model.stem[1], nn.Identity)
    assert type(model.fc).__name__ == "LinearReLU"
    torch.testing.assert_close(model(x), expected, rtol=1e-4, atol=1e-5)


def test_a_module_called_twice_is_not_fused(patterns):
    chains = fusion.find_chains(SharedRelu(), patterns)
    assert chains == []


def test_a_module_whose_output_branches_is_not_fused(patterns):
    assert fusion.find_chains(Branchy(), patterns) == []


def test_untraceable_models_fall_back_to_sequential_neighbours(patterns):
    torch.manual_seed(0)
    model = _trained_bn(Untraceable())
    x = torch.randn(2, 3, 8, 8)
    expected = model(x)
    assert fusion.apply_patterns(model, patterns) == [["body.0", "body.1", "body.2"]]
    torch.testing.assert_close(model(x), expected, rtol=1e-4, atol=1e-5)


def test_a_pattern_torch_cannot_fuse_gets_a_clear_error():
    odd = FusionPattern("relu-conv", ("torch.nn.ReLU", "torch.nn.Conv2d"))
    model = nn.Sequential(nn.ReLU(), nn.Conv2d(3, 3, 1))
    with pytest.raises(IncompatibleError, match="fusion pattern 'relu-conv' cannot fuse"):
        fusion.apply_patterns(model, [odd])
