"""torchvision's twelve quantizable classifiers, with their float and pre-quantized ImageNet weights.

Each architecture is torchvision's own quantizable variant (QuantStub, FloatFunctional, fusable ReLU), built
with ``quantize=False`` and fused by its own ``fuse_model``. ``tv_mobilenet_v2`` keeps torchvision's name apart
from the tutorial's ``mobilenet_v2``. Every pre-quantized weight is published as a short name that ``zoo pull
NAME`` records as a registry model (``resnet50-int8``, ``mobilenet_v3_large-int8``...; ``zoo models`` lists them).

GoogLeNet and Inception v3 are built as torchvision builds them for its published weights: inputs transformed
to the original normalisation (``transform_input``), no auxiliary classifiers (their weights are dropped on
loading, as torchvision does after loading). MobileNetV3's int8 weights are published as the QAT-prepared state
before convert (torchvision works around an eager-mode issue that way), so they name the stage ``prepared``.
"""

from __future__ import annotations

import functools

from zoo import KnownWeights, ModelSpec, hookimpl
from zoo_plugins.torchvision_weights import TORCHVISION_LICENSE, metrics_reader, state_dict_loader

FLOAT = "torchvision.models"
QUANTIZED = "torchvision.models.quantization"
# Auxiliary classifiers that torchvision's published GoogLeNet and Inception v3 leave out after loading.
AUX_HEADS = {"googlenet": ("aux1.", "aux2."), "inception_v3": ("AuxLogits.",)}


def build(builder: str, num_classes: int, **options):
    """torchvision's quantizable ``builder`` in float, with random weights."""
    from torchvision.models import quantization

    return getattr(quantization, builder)(weights=None, quantize=False, num_classes=num_classes, **options)


def fuse(model, is_qat: bool) -> None:
    model.fuse_model(is_qat=is_qat)


def imagenet_weights(arch: str, name: str, module: str, enum: str, member: str, image_size: int = 224,
                     **kwargs) -> KnownWeights:
    return KnownWeights(
        name=name, dataset="imagenet-1k", num_classes=1000, image_size=image_size,
        load=state_dict_loader(module, enum, member, drop=AUX_HEADS.get(arch, ())),
        metrics=metrics_reader(module, enum, member),
        source=f"torchvision {enum}.{member}",
        license=TORCHVISION_LICENSE,
        **kwargs,
    )


def _architecture(arch: str, description: str, float_enum: str, quantized_enum: str,
                  versions: tuple[tuple[str, str, str], ...], *, name: str | None = None, engine: str = "fbgemm",
                  preset: str | None = None, image_size: int = 224, stage: str = "converted",
                  **options) -> ModelSpec:
    """One architecture: ``versions`` lists (float member, quantized member, published name) per weights version."""
    name = name or arch
    weights: list[KnownWeights] = []
    for float_member, quantized_member, published_as in versions:
        float_name = float_member.lower().replace("_", "-")
        weights.append(imagenet_weights(arch, float_name, FLOAT, float_enum, float_member, image_size))
        weights.append(imagenet_weights(
            arch, f"{float_name.replace('imagenet1k', f'imagenet1k-{engine}')}", QUANTIZED, quantized_enum,
            quantized_member, image_size, quantized=True, engine=engine,
            preset=preset or f"{engine}-histogram", unquantized=float_name, published_as=published_as,
            stage=stage))
    return ModelSpec(name, functools.partial(build, arch, **options), fuse=fuse, input_size=image_size,
                     description=description, weights=tuple(weights))


MODELS = (
    _architecture("googlenet", "torchvision's quantizable GoogLeNet (Inception v1)", "GoogLeNet_Weights",
                  "GoogLeNet_QuantizedWeights", (("IMAGENET1K_V1", "IMAGENET1K_FBGEMM_V1", "googlenet-int8"),),
                  aux_logits=False, transform_input=True, init_weights=True),
    _architecture("inception_v3", "torchvision's quantizable Inception v3 (299x299 inputs)", "Inception_V3_Weights",
                  "Inception_V3_QuantizedWeights", (("IMAGENET1K_V1", "IMAGENET1K_FBGEMM_V1", "inception_v3-int8"),),
                  image_size=299, aux_logits=False, transform_input=True, init_weights=True),
    _architecture("mobilenet_v2", "torchvision's quantizable MobileNetV2", "MobileNet_V2_Weights",
                  "MobileNet_V2_QuantizedWeights", (("IMAGENET1K_V1", "IMAGENET1K_QNNPACK_V1",
                                                     "tv_mobilenet_v2-int8"),),
                  name="tv_mobilenet_v2", engine="qnnpack"),
    _architecture("mobilenet_v3_large", "torchvision's quantizable MobileNetV3-Large", "MobileNet_V3_Large_Weights",
                  "MobileNet_V3_Large_QuantizedWeights", (("IMAGENET1K_V1", "IMAGENET1K_QNNPACK_V1",
                                                           "mobilenet_v3_large-int8"),),
                  engine="qnnpack", preset="qnnpack-qat", stage="prepared"),
    _architecture("resnet18", "torchvision's quantizable ResNet18", "ResNet18_Weights", "ResNet18_QuantizedWeights",
                  (("IMAGENET1K_V1", "IMAGENET1K_FBGEMM_V1", "resnet18-int8"),)),
    _architecture("resnet50", "torchvision's quantizable ResNet50", "ResNet50_Weights", "ResNet50_QuantizedWeights",
                  (("IMAGENET1K_V1", "IMAGENET1K_FBGEMM_V1", "resnet50-v1-int8"),
                   ("IMAGENET1K_V2", "IMAGENET1K_FBGEMM_V2", "resnet50-int8"))),
    _architecture("resnext101_32x8d", "torchvision's quantizable ResNeXt-101 32x8d", "ResNeXt101_32X8D_Weights",
                  "ResNeXt101_32X8D_QuantizedWeights",
                  (("IMAGENET1K_V1", "IMAGENET1K_FBGEMM_V1", "resnext101_32x8d-v1-int8"),
                   ("IMAGENET1K_V2", "IMAGENET1K_FBGEMM_V2", "resnext101_32x8d-int8"))),
    _architecture("resnext101_64x4d", "torchvision's quantizable ResNeXt-101 64x4d", "ResNeXt101_64X4D_Weights",
                  "ResNeXt101_64X4D_QuantizedWeights",
                  (("IMAGENET1K_V1", "IMAGENET1K_FBGEMM_V1", "resnext101_64x4d-int8"),)),
    *(_architecture(f"shufflenet_v2_{width}", f"torchvision's quantizable ShuffleNetV2 {width}",
                    f"ShuffleNet_V2_{width.upper()}_Weights", f"ShuffleNet_V2_{width.upper()}_QuantizedWeights",
                    (("IMAGENET1K_V1", "IMAGENET1K_FBGEMM_V1", f"shufflenet_v2_{width}-int8"),))
      for width in ("x0_5", "x1_0", "x1_5", "x2_0")),
)


@hookimpl
def register_models(register):
    for spec in MODELS:
        register(spec)
