"""torchvision's quantizable ResNet18 and MobileNetV2 with their float and pre-quantized ImageNet weights.

``tv_mobilenet_v2`` keeps torchvision's name apart from the tutorial's ``mobilenet_v2``.
The pre-quantized weights are published as ``resnet18-int8`` and
``tv_mobilenet_v2-int8``: ``zoo pull NAME`` records them as registry models.
"""

from __future__ import annotations

from zoo import KnownWeights, ModelSpec, hookimpl
from zoo_plugins.torchvision_weights import TORCHVISION_LICENSE, metrics_reader, state_dict_loader

FLOAT = "torchvision.models"
QUANTIZED = "torchvision.models.quantization"


def build_resnet18(num_classes: int):
    from torchvision.models.quantization import resnet18

    return resnet18(weights=None, quantize=False, num_classes=num_classes)


def build_mobilenet_v2(num_classes: int):
    from torchvision.models.quantization import mobilenet_v2

    return mobilenet_v2(weights=None, quantize=False, num_classes=num_classes)


def fuse(model, is_qat: bool) -> None:
    model.fuse_model(is_qat=is_qat)


def imagenet_weights(name: str, module: str, enum: str, member: str, **kwargs) -> KnownWeights:
    return KnownWeights(
        name=name, dataset="imagenet-1k", num_classes=1000, image_size=224,
        load=state_dict_loader(module, enum, member),
        metrics=metrics_reader(module, enum, member),
        source=f"torchvision {enum}.{member}",
        license=TORCHVISION_LICENSE,
        **kwargs,
    )


MODELS = (
    ModelSpec(
        "resnet18", build_resnet18, fuse=fuse, input_size=224,
        description="torchvision's quantizable ResNet18",
        weights=(
            imagenet_weights("imagenet1k-v1", FLOAT, "ResNet18_Weights", "IMAGENET1K_V1"),
            imagenet_weights("imagenet1k-fbgemm-v1", QUANTIZED, "ResNet18_QuantizedWeights",
                             "IMAGENET1K_FBGEMM_V1", quantized=True, engine="fbgemm",
                             preset="fbgemm-histogram", unquantized="imagenet1k-v1",
                             published_as="resnet18-int8"),
        ),
    ),
    ModelSpec(
        "tv_mobilenet_v2", build_mobilenet_v2, fuse=fuse, input_size=224,
        description="torchvision's quantizable MobileNetV2",
        weights=(
            imagenet_weights("imagenet1k-v1", FLOAT, "MobileNet_V2_Weights", "IMAGENET1K_V1"),
            imagenet_weights("imagenet1k-qnnpack-v1", QUANTIZED, "MobileNet_V2_QuantizedWeights",
                             "IMAGENET1K_QNNPACK_V1", quantized=True, engine="qnnpack",
                             preset="qnnpack-histogram", unquantized="imagenet1k-v1",
                             published_as="tv_mobilenet_v2-int8"),
        ),
    ),
)


@hookimpl
def register_models(register):
    for spec in MODELS:
        register(spec)
