"""The built-in evaluation datasets: Fashion-MNIST (the embedded default), CIFAR-10, ImageFolder, ImageNet-1K."""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
from pathlib import Path

from zoo import DatasetSpec, DatasetUnavailableError, hookimpl

# Debian's dataset-fashion-mnist package installs the four .gz idx files here.
FASHION_MNIST_SYSTEM_DIRS = ["/usr/share/datasets/fashion-mnist"]
FASHION_MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
IMAGEFOLDER_TEST_DIRS = ("val", "test")


def _fashion_mnist_raw_copy() -> Path | None:
    for directory in map(Path, FASHION_MNIST_SYSTEM_DIRS):
        if all((directory / f).exists() or (directory / f"{f}.gz").exists() for f in FASHION_MNIST_FILES):
            return directory
    return None


def _unpack_fashion_mnist(source: Path, raw: Path) -> None:
    """Copy (gunzipping) the idx files into torchvision's layout; a rename makes it all-or-nothing, and safe when
    several processes do it at once."""
    raw.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".raw-", dir=raw.parent))
    try:
        for name in FASHION_MNIST_FILES:
            if (source / name).exists():
                shutil.copyfile(source / name, staging / name)
            else:
                with gzip.open(source / f"{name}.gz", "rb") as src, open(staging / name, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        try:
            os.rename(staging, raw)
        except OSError:
            # Another process (a sweep's other cell) moved its complete copy in first: theirs is as good, and
            # removing it would pull it from under that process. Only an incomplete one is replaced.
            if all((raw / f).exists() for f in FASHION_MNIST_FILES):
                return
            shutil.rmtree(raw)
            os.rename(staging, raw)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _download(dataset_cls, name: str, root: Path, how_to_get: str, **kwargs):
    """Download into a staging directory and move it in only when complete."""
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}-download-", dir=root.parent))
    try:
        dataset_cls(str(staging), download=True, **kwargs)
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DatasetUnavailableError(
            f"dataset '{name}' is not in {root} and could not be downloaded ({reason}); {how_to_get}"
        ) from None
    else:
        for child in staging.iterdir():
            target = root / child.name
            if not target.exists():
                root.mkdir(parents=True, exist_ok=True)
                os.replace(child, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def build_fashion_mnist(split: str, transform, root: str, download: bool = True):
    from torchvision.datasets import FashionMNIST

    root_path = Path(root)
    raw = root_path / "FashionMNIST" / "raw"
    if not all((raw / f).exists() for f in FASHION_MNIST_FILES):
        source = _fashion_mnist_raw_copy()
        looked = ", ".join([str(raw), *FASHION_MNIST_SYSTEM_DIRS])
        how = ("install Debian's package with `apt-get install dataset-fashion-mnist`, "
               f"or put the four idx files in {raw}")
        if source is not None:
            _unpack_fashion_mnist(source, raw)
        elif download:
            _download(FashionMNIST, "fashion-mnist", root_path, f"looked in {looked}; {how}", train=True)
        else:
            raise DatasetUnavailableError(f"dataset 'fashion-mnist' not found (looked in {looked}); {how}")
    return FashionMNIST(str(root_path), train=split == "train", transform=transform)


def build_cifar10(split: str, transform, root: str, download: bool = True):
    from torchvision.datasets import CIFAR10

    root_path = Path(root)
    if not (root_path / "cifar-10-batches-py").is_dir():
        how = (f"connect to the internet to let torchvision download it, or unpack "
               f"cifar-10-python.tar.gz into {root_path}")
        if not download:
            raise DatasetUnavailableError(f"dataset 'cifar10' not found in {root_path}; {how}")
        _download(CIFAR10, "cifar10", root_path, how, train=True)
    return CIFAR10(str(root_path), train=split == "train", transform=transform)


def _imagefolder_split_dir(root: str, split: str, name: str = "imagefolder") -> Path:
    base = Path(root).expanduser()
    candidates = ("train",) if split == "train" else IMAGEFOLDER_TEST_DIRS
    for name in candidates:
        if (base / name).is_dir():
            return base / name
    wanted = " or ".join(f"{base / name}/" for name in candidates)
    raise DatasetUnavailableError(
        f"dataset '{name}' has no {split} split: expected {wanted} with one sub-directory per class "
        "(the layout of the tutorial's imagenet_1k)"
    )


def build_imagefolder(split: str, transform, root: str, download: bool = False):
    from torchvision.datasets import ImageFolder

    return ImageFolder(str(_imagefolder_split_dir(root, split)), transform=transform)


def build_imagenet(split: str, transform, root: str, download: bool = False):
    from torchvision.datasets import ImageFolder

    # ImageFolder numbers the sorted wnid directories 0..999: the class order torchvision's weights use.
    dataset = ImageFolder(str(_imagefolder_split_dir(root, split, "imagenet-1k")), transform=transform)
    if len(dataset.classes) != 1000:
        raise DatasetUnavailableError(
            f"dataset 'imagenet-1k' needs 1000 class directories in {dataset.root}, found {len(dataset.classes)}; "
            "for another class count use --dataset imagefolder"
        )
    return dataset


def count_imagefolder_classes(root: str) -> int:
    return sum(1 for child in _imagefolder_split_dir(root, "train").iterdir() if child.is_dir())


def imagefolder_labels(root: str) -> list[str]:
    """The class folder names, sorted: the order in which ImageFolder numbers the classes."""
    return sorted(child.name for child in _imagefolder_split_dir(root, "train").iterdir() if child.is_dir())


def imagenet_labels(root: str | None) -> list[str]:
    """ImageNet-1K's 1000 class names in index order, as torchvision's weights carry them (no download)."""
    from torchvision.models import ResNet18_Weights

    return list(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


# torchvision's FashionMNIST.classes and CIFAR-10's batches.meta, in index order.
FASHION_MNIST_LABELS = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                        "Ankle boot")
CIFAR10_LABELS = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


DATASETS = (
    DatasetSpec(
        "fashion-mnist", build_fashion_mnist, num_classes=10, image_size=32, channels=1,
        mean=(0.2860,), std=(0.3530,),
        description="Fashion-MNIST: 60,000 train / 10,000 test 28x28 grey images of 10 clothing classes",
        hub_id="zalando-datasets/fashion_mnist", labels=FASHION_MNIST_LABELS,
        obtain=f"found in zoo's data directory or {', '.join(FASHION_MNIST_SYSTEM_DIRS)}, else downloaded",
    ),
    DatasetSpec(
        "cifar10", build_cifar10, num_classes=10, image_size=32, channels=3,
        mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616),
        description="CIFAR-10: 50,000 train / 10,000 test 32x32 colour images of 10 classes",
        hub_id="uoft-cs/cifar10", labels=CIFAR10_LABELS,
        obtain="downloaded by torchvision into zoo's data directory",
    ),
    DatasetSpec(
        "imagefolder", build_imagefolder, num_classes=None, count_classes=count_imagefolder_classes,
        image_size=224, channels=3, resize_crop=True, needs_path=True,
        description="images in DIR/train/<class>/ and DIR/val/<class>/ (ImageNet layout); pass --data-dir DIR",
        labels=imagefolder_labels,
        obtain="a directory you give with --data-dir",
    ),
    DatasetSpec(
        "imagenet-1k", build_imagenet, num_classes=1000, image_size=224, channels=3, resize_crop=True,
        needs_path=True,
        description="ImageNet-1K in DIR/train/<wnid>/ and DIR/val/<wnid>/, the data torchvision's weights "
                    "were measured on; pass --data-dir DIR",
        obtain="a directory you give with --data-dir (ImageNet's licence forbids redistribution)",
        hub_id="ILSVRC/imagenet-1k", labels=imagenet_labels,
    ),
)


@hookimpl
def register_datasets(register):
    for spec in DATASETS:
        register(spec)
