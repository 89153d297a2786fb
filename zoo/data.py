"""Turning a registered dataset into the tensors a model of given input size expects."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

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
    labels: tuple[str, ...] | None = None
    # The weights' own normalisation (mean, std, crop ratio), where they declare one for this dataset.
    normalization: tuple[tuple[float, ...], tuple[float, ...], float | None] | None = None

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
    return DataConfig(spec.name, root, image_size or spec.image_size, in_channels, num_classes,
                      labels_of(spec, root, num_classes))


def labels_of(spec: DatasetSpec, root: str | None, num_classes: int | None = None) -> tuple[str, ...] | None:
    """The dataset's class names in index order, or None when it has none (or they do not fit its class count).

    Raises:
        PluginCallError: the plugin's ``labels(root)`` failed.
    """
    labels = spec.labels(root) if callable(spec.labels) else spec.labels
    if labels is None:
        return None
    labels = tuple(str(label) for label in labels)
    expected = num_classes if num_classes is not None else spec.num_classes
    return labels if expected is None or len(labels) == expected else None


# What an ImageNet-style evaluation resizes to before its centre crop: 224 / 0.875 = 256.
CROP_RATIO = 0.875


def preprocessing(spec: DatasetSpec, image_size: int, in_channels: int,
                  normalization: tuple[tuple[float, ...], tuple[float, ...], float | None] | None = None
                  ) -> dict[str, Any]:
    """How an image becomes this model's input, as config.json records it (see ``Preprocess``).

    Returns:
        {image_size: side in pixels, resize: "resize" (to image_size × image_size) or "resize_crop" (shorter side
        to round(image_size / crop_ratio), then the centre image_size × image_size), crop_ratio, channels: 1 (grey)
        or 3 (RGB) as the dataset's images are, mean and std per channel (of pixel values scaled to 0..1),
        in_channels: the model's (a grey image is repeated to fill them)}. ``normalization``: the weights' own
        (mean, std, crop ratio), which replace the dataset's where given.
    """
    mean, std, crop_ratio = normalization or (spec.mean, spec.std, None)
    return Preprocess(image_size=image_size, resize="resize_crop" if spec.resize_crop else "resize",
                      channels=spec.channels, in_channels=in_channels, mean=tuple(mean), std=tuple(std),
                      crop_ratio=crop_ratio or CROP_RATIO).as_record()


def eval_transform(preprocess: Mapping[str, Any]):
    """The torchvision transform of a recorded ``preprocessing``: PIL image → float32 tensor
    (in_channels, image_size, image_size)."""
    size = preprocess["image_size"]
    if preprocess["resize"] == "resize_crop":
        steps: list = [transforms.Resize(int(round(size / preprocess.get("crop_ratio", CROP_RATIO)))),
                       transforms.CenterCrop(size)]
    else:
        steps = [transforms.Resize((size, size))]
    steps += [transforms.ToTensor(), transforms.Normalize(preprocess["mean"], preprocess["std"])]
    if preprocess["channels"] != preprocess["in_channels"]:
        steps.append(RepeatChannels(preprocess["in_channels"]))
    return transforms.Compose(steps)


@dataclass(frozen=True)
class Preprocess:
    """What a model expects, and the callable that makes it from an image (as torchvision's
    ``weights.transforms()``).

    Call it with a PIL image, of any size or mode (it is converted to grey or RGB as the model's training images
    were), or a uint8 tensor (channels, height, width) with 1 or 3 channels; it returns a float32 tensor
    (in_channels, image_size, image_size), resized (or resized and centre-cropped) and normalised with ``mean``
    and ``std``. Stack several for a batch. ``labels`` names the model's outputs in index order, where the
    dataset has names.
    """

    image_size: int
    resize: str
    channels: int
    in_channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    labels: tuple[str, ...] | None = None
    crop_ratio: float = CROP_RATIO

    @classmethod
    def from_record(cls, preprocess: Mapping[str, Any], labels: Sequence[str] | None) -> Preprocess:
        return cls(image_size=preprocess["image_size"], resize=preprocess["resize"],
                   channels=preprocess["channels"], in_channels=preprocess["in_channels"],
                   mean=tuple(preprocess["mean"]), std=tuple(preprocess["std"]),
                   labels=tuple(labels) if labels else None,
                   crop_ratio=preprocess.get("crop_ratio", CROP_RATIO))

    def as_record(self) -> dict[str, Any]:
        return {"image_size": self.image_size, "resize": self.resize,
                **({"crop_ratio": self.crop_ratio} if self.resize == "resize_crop" else {}),
                "channels": self.channels, "mean": list(self.mean), "std": list(self.std),
                "in_channels": self.in_channels}

    def __call__(self, image) -> torch.Tensor:
        from PIL import Image
        from torchvision.transforms.functional import to_pil_image

        if isinstance(image, torch.Tensor):
            if image.dtype != torch.uint8 or image.dim() != 3 or image.shape[0] not in (1, 3):
                raise ValueError(f"expected a uint8 tensor (1 or 3, height, width), got {image.dtype} "
                                 f"{tuple(image.shape)}")
            image = to_pil_image(image)
        if not isinstance(image, Image.Image):
            raise TypeError(f"expected a PIL image or a uint8 tensor, got {type(image).__name__}")
        return self._transform(image.convert("L" if self.channels == 1 else "RGB"))

    @functools.cached_property
    def _transform(self):
        return eval_transform(self.as_record())


def make_transform(spec: DatasetSpec, config: DataConfig, train: bool):
    if not train:
        return eval_transform(preprocessing(spec, config.image_size, config.in_channels, config.normalization))
    mean, std, _ = config.normalization or (spec.mean, spec.std, None)
    size = config.image_size
    steps: list = []
    if spec.resize_crop:
        steps += [transforms.RandomResizedCrop(size), transforms.RandomHorizontalFlip()]
    else:
        steps.append(transforms.Resize((size, size)))
        if spec.augment:
            steps += [transforms.RandomCrop(size, padding=size // 8), transforms.RandomHorizontalFlip()]
    steps += [transforms.ToTensor(), transforms.Normalize(mean, std)]
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


def carve(dataset: Dataset, count: int, seed: int) -> tuple[Dataset, Dataset]:
    """(the rest, ``count`` held-out images): a validation split carved from a training split, the same images for
    the same seed and size, whatever transform ``dataset`` applies.

    Raises:
        SettingError: ``count`` leaves no image for the rest.
    """
    from zoo.core.errors import SettingError

    total = size(dataset)
    if not 0 < count < total:
        raise SettingError(f"validation images: {count} is not between 1 and {total - 1} (the training split has "
                           f"{total})")
    order = torch.randperm(total, generator=torch.Generator().manual_seed(seed)).tolist()
    held_out = sorted(order[:count])
    return Subset(dataset, sorted(order[count:])), Subset(dataset, held_out)


def loader(dataset: Dataset, batch_size: int, shuffle: bool = False, seed: int = 0) -> DataLoader:
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator, num_workers=0)

