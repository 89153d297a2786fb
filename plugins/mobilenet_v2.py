"""The quantizable MobileNetV2 of PyTorch's eager-mode quantization tutorial, with zoo's own weights."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from zoo import IntegrityError, KnownWeights, ModelSpec, ZooError, hookimpl
from zoo_plugins.torchvision_weights import TORCHVISION_LICENSE, state_dict_loader

WEIGHTS_DIR = Path(__file__).parent / "weights"
FASHION_MNIST = WEIGHTS_DIR / "mobilenet_v2-fashion-mnist.safetensors"
FASHION_MNIST_CARD = FASHION_MNIST.with_suffix(".json")


def build(num_classes: int):
    from zoo_plugins.mobilenet_v2_model import MobileNetV2

    return MobileNetV2(num_classes=num_classes)


def fuse(model, is_qat: bool) -> None:
    model.fuse_model(is_qat)


def _card() -> dict:
    try:
        return json.loads(FASHION_MNIST_CARD.read_text())
    except FileNotFoundError:
        raise IntegrityError(f"the shipped weights' card {FASHION_MNIST_CARD} is missing; reinstall zoo") from None


def load_fashion_mnist():
    from safetensors.torch import load

    try:
        data = FASHION_MNIST.read_bytes()
    except FileNotFoundError:
        raise IntegrityError(f"the shipped weights {FASHION_MNIST} are missing; reinstall zoo") from None
    expected = _card()["sha256"]
    if hashlib.sha256(data).hexdigest() != expected:
        raise IntegrityError(f"{FASHION_MNIST} does not match its recorded sha256 {expected}; reinstall zoo")
    return load(data)


def fashion_mnist_metrics():
    card = _card()
    return {card["dataset"]["name"]: {k: card["metrics"][k] for k in ("top1", "top5")}}


def fashion_mnist_recipe() -> str:
    """The `zoo train` command that made the shipped weights, as their card records it."""
    try:
        return _card().get("command", "")
    except ZooError:  # a broken install is reported when the weights are loaded, not at plugin import
        return ""


MODELS = (
    ModelSpec(
        "mobilenet_v2", build, fuse=fuse, input_size=224,
        description="the quantization tutorial's MobileNetV2 (QuantStub, FloatFunctional add, ReLU)",
        weights=(
            KnownWeights(
                name="fashion-mnist", dataset="fashion-mnist", num_classes=10, image_size=32,
                load=load_fashion_mnist, metrics=fashion_mnist_metrics, recipe=fashion_mnist_recipe(),
                source=f"shipped with zoo ({FASHION_MNIST.name})",
                license="bsd-3-clause",  # zoo's own licence: zoo trained them
            ),
            # The tutorial loads torchvision's float MobileNetV2 weights: the parameter names match.
            KnownWeights(
                name="imagenet1k-v1", dataset="imagenet-1k", num_classes=1000, image_size=224,
                load=state_dict_loader("torchvision.models", "MobileNet_V2_Weights", "IMAGENET1K_V1"),
                source="torchvision MobileNet_V2_Weights.IMAGENET1K_V1 (trained with ReLU6)",
                license=TORCHVISION_LICENSE,
            ),
        ),
    ),
)


@hookimpl
def register_models(register):
    for spec in MODELS:
        register(spec)
