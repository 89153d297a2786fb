"""Shapes: grey 32×32 images of six outlined or filled shapes, drawn from a fixed seed.

Every image is a pure function of its split and index, so the dataset needs
no download and no disk, and is the same on every machine. Position, size,
brightness and noise vary; only the shape tells the class.
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

CLASSES = ("disc", "ring", "square", "frame", "plus", "cross")
IMAGE_SIZE = 32
SPLIT_SIZES = {"train": 6000, "test": 1200}
# Far apart, so the two splits never draw the same image.
SPLIT_SEEDS = {"train": 1_000_000_000, "test": 2_000_000_000}
STROKE = 1.5


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * torch.rand((), generator=generator).item()


def _mask(label: int, x: torch.Tensor, y: torch.Tensor, radius: float) -> torch.Tensor:
    disc = x.square() + y.square()
    box = torch.maximum(x.abs(), y.abs())
    name = CLASSES[label]
    if name == "disc":
        return disc <= radius ** 2
    if name == "ring":
        return (disc <= radius ** 2) & (disc >= (radius - 2 * STROKE) ** 2)
    if name == "square":
        return box <= radius * 0.8
    if name == "frame":
        return (box <= radius * 0.8) & (box >= radius * 0.8 - 2 * STROKE)
    if name == "plus":
        return ((x.abs() <= STROKE) | (y.abs() <= STROKE)) & (box <= radius)
    diagonal = torch.minimum((x - y).abs(), (x + y).abs()) / 2 ** 0.5  # "cross": an X
    return (diagonal <= STROKE) & (box <= radius * 0.8)


def render(split: str, index: int) -> tuple[torch.Tensor, int]:
    """The ``index``-th image of ``split`` as a uint8 tensor of shape (32, 32), and its label."""
    generator = torch.Generator().manual_seed(SPLIT_SEEDS[split] + index)
    label = index % len(CLASSES)
    radius = _uniform(generator, 5.0, 11.0)
    centre_x = _uniform(generator, radius, IMAGE_SIZE - 1 - radius)
    centre_y = _uniform(generator, radius, IMAGE_SIZE - 1 - radius)
    grid = torch.arange(IMAGE_SIZE, dtype=torch.float32)
    y, x = torch.meshgrid(grid - centre_y, grid - centre_x, indexing="ij")
    background = _uniform(generator, 0.0, 0.5)
    foreground = background + _uniform(generator, 0.2, 0.45)
    image = torch.where(_mask(label, x, y, radius), foreground, background)
    image = image + 0.12 * torch.randn(image.shape, generator=generator)
    return (image.clamp(0, 1) * 255).round().to(torch.uint8), label


class Shapes(Dataset):
    """``(image, label)`` pairs; images are PIL images so that torchvision transforms apply as to any dataset."""

    def __init__(self, split: str, transform=None):
        if split not in SPLIT_SIZES:
            raise ValueError(f"shapes has no split {split!r}; valid: {', '.join(SPLIT_SIZES)}")
        self.split = split
        self.transform = transform

    def __len__(self) -> int:
        return SPLIT_SIZES[self.split]

    def __getitem__(self, index: int):
        from torchvision.transforms.functional import to_pil_image

        if not 0 <= index < len(self):
            raise IndexError(index)
        pixels, label = render(self.split, index)
        image = to_pil_image(pixels)
        return (self.transform(image) if self.transform else image), label
