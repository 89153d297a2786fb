"""The architecture of the stored artifact fixtures: a tiny CNN zoo can quantize in every backend.

Registered by the tests that load the fixtures (``PluginHost.add``), never installed.
"""

from __future__ import annotations

from zoo import ModelSpec, hookimpl
def build(num_classes: int):
    import torch
    from torch import nn

    from zoo.nn import DeQuantStub, FloatFunctional, QuantStub

    class FixtureCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.quant, self.dequant = QuantStub(), DeQuantStub()
            self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
            self.branch = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8))
            self.skip = FloatFunctional()
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.head = nn.Linear(8, num_classes)

        def forward(self, x):
            x = self.stem(self.quant(x))
            x = self.skip.add(x, self.branch(x))
            return self.dequant(self.head(torch.flatten(self.pool(x), 1)))

    return FixtureCNN()


@hookimpl
def register_models(register):
    register(ModelSpec("fixture-cnn", build, input_size=16, description="a tiny CNN for the artifact fixtures"))
