"""TinyCNN: a small quantizable CNN for 32×32 images, written without a fuse function.

zoo fuses it in eager mode with the registered fusion patterns
(Conv2d-BatchNorm2d-ReLU, Conv2d-BatchNorm2d, Linear-ReLU), and every step of
its forward is a module call, so torch.fx traces it for FX mode.
"""

from __future__ import annotations

from torch import nn

from zoo.nn import DeQuantStub, FloatFunctional, QuantStub


def conv_bn_relu(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    )


class Residual(nn.Module):
    """Two 3×3 convolutions with a skip connection."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        # The add goes through FloatFunctional so that int8 inference can observe and quantize it.
        self.skip = FloatFunctional()
        # Its own ReLU, not relu1 again: a module called twice is neither fused nor observed per use.
        self.relu2 = nn.ReLU()

    def forward(self, x):
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(self.skip.add(out, x))


class TinyCNN(nn.Module):
    def __init__(self, num_classes: int = 10, in_channels: int = 3, width: int = 8):
        super().__init__()
        self.quant = QuantStub()
        self.stem = conv_bn_relu(in_channels, width)
        self.stage1 = nn.Sequential(conv_bn_relu(width, 2 * width, stride=2), Residual(2 * width))
        self.stage2 = nn.Sequential(conv_bn_relu(2 * width, 4 * width, stride=2), Residual(4 * width))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.head = nn.Sequential(nn.Linear(4 * width, 64), nn.ReLU(), nn.Linear(64, num_classes))
        self.dequant = DeQuantStub()

    def forward(self, x):
        x = self.quant(x)
        x = self.stage2(self.stage1(self.stem(x)))
        x = self.head(self.flatten(self.pool(x)))
        return self.dequant(x)
