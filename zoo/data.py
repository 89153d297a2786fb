"""Turning a registered dataset into the tensors a model of given input size expects."""

from __future__ import annotations

from collections.abc import Sized
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import torch
from torch.utils.data import DataLoader, Dataset, Subset
from torchvision import transforms

from zoo.core.errors import DatasetUnavailableError, IncompatibleError
from zoo.core.paths import datasets_dir
from zoo.core.specs import DatasetSpec


class RepeatChannels:
    """Grey images fed to a 3-channel network: repeat the one channel."""

    def __init__(self, channels: int):
        self.channels = channels

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return image.expand(self.channels, -1, -1)


@dataclass(frozen=True)
class DataConfig:
    """Everything that decides what a model sees; recorded with results so evaluation can be repeated."""

    dataset: str
    root: str
    image_size: int
    in_channels: int
    num_classes: int

    def as_dict(self) -> dict:
        return {"name": self.dataset, "image_size": self.image_size, "num_classes": self.num_classes}


def resolve(spec: DatasetSpec, data_dir: str | None, image_size: int | None, in_channels: int,
            datasets_root: Path | None = None) -> DataConfig:
    """Where ``spec``'s files are (``data_dir``, else ``datasets_root/NAME``, by default under ZOO_HOME), at
    which image size, with how many classes.

    Raises:
        DatasetUnavailableError: the dataset needs a --data-dir and none was given.
        IncompatibleError: the dataset's channels do not fit the model's ``in_channels``.
    """
    if spec.needs_path and not data_dir:
        raise DatasetUnavailableError(f"dataset '{spec.name}' needs --data-dir DIR ({spec.description})")
    root = str(Path(data_dir).expanduser()) if data_dir else str((datasets_root or datasets_dir()) / spec.name)
    if spec.channels not in (1, in_channels):
        raise IncompatibleError(
            f"dataset '{spec.name}' has {spec.channels} channels but the model takes {in_channels}"
        )
    if spec.num_classes is not None:
        num_classes = spec.num_classes
    else:
        assert spec.count_classes is not None  # DatasetSpec checks that one of the two is given
        num_classes = spec.count_classes(root)
    return DataConfig(spec.name, root, image_size or spec.image_size, in_channels, num_classes)


def make_transform(spec: DatasetSpec, config: DataConfig, train: bool):
    size = config.image_size
    steps: list = []
    if spec.resize_crop:
        if train:
            steps += [transforms.RandomResizedCrop(size), transforms.RandomHorizontalFlip()]
        else:
            steps += [transforms.Resize(int(round(size / 0.875))), transforms.CenterCrop(size)]
    else:
        steps.append(transforms.Resize((size, size)))
        if train and spec.augment:
            steps += [transforms.RandomCrop(size, padding=size // 8), transforms.RandomHorizontalFlip()]
    steps += [transforms.ToTensor(), transforms.Normalize(spec.mean, spec.std)]
    if spec.channels != config.in_channels:
        steps.append(RepeatChannels(config.in_channels))
    return transforms.Compose(steps)


def load_split(spec: DatasetSpec, config: DataConfig, split: str, train: bool = False) -> Dataset:
    """``train`` adds the dataset's augmentation; calibration and evaluation use plain images."""
    return spec.build(split, make_transform(spec, config, train), config.root, download=not spec.needs_path)


def size(dataset: Dataset) -> int:
    """How many items ``dataset`` holds (every dataset zoo loads has a length; torch's type does not say so)."""
    return len(cast(Sized, dataset))


def first(dataset: Dataset, limit: int | None) -> Dataset:
    if limit is None or limit >= size(dataset):
        return dataset
    return Subset(dataset, range(limit))


def sample(dataset: Dataset, count: int | None, seed: int) -> Dataset:
    """A fixed random subset: the same seed picks the same images."""
    if count is None or count >= size(dataset):
        return dataset
    generator = torch.Generator().manual_seed(seed)
    return Subset(dataset, torch.randperm(size(dataset), generator=generator)[:count].tolist())


def loader(dataset: Dataset, batch_size: int, shuffle: bool = False, seed: int = 0) -> DataLoader:
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator, num_workers=0)

