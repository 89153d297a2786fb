"""An example zoo plugin: the TinyCNN architecture, the Shapes dataset and a per-tensor fbgemm preset.

zoo finds it through the entry point ``example`` in the group ``zoo`` (see
pyproject.toml). Importing it is cheap: torch is imported only when zoo builds
a model or a dataset.
"""

from __future__ import annotations

from zoo import DatasetSpec, ModelSpec, Observer, Preset, hookimpl


def build_tinycnn(num_classes: int):
    from zoo_example_plugin.tinycnn import TinyCNN

    return TinyCNN(num_classes=num_classes)


def build_shapes(split: str, transform, root: str, download: bool = False):
    # Drawn from a seed: nothing to find in root, nothing to download.
    from zoo_example_plugin.shapes import Shapes

    return Shapes(split, transform)


@hookimpl
def register_models(register):
    # No fuse=...: zoo fuses TinyCNN with the registered fusion patterns.
    register(ModelSpec(
        "tinycnn", build_tinycnn, input_size=32, in_channels=3,
        description="a small CNN for 32x32 images: Conv-BN-ReLU stages, residual adds, a Linear-ReLU head",
    ))


@hookimpl
def register_presets(register):
    register(Preset(
        "fbgemm-histogram-per-tensor", "fbgemm", "static",
        activation=Observer("histogram", quant_min=0, quant_max=127),
        weight=Observer("minmax", dtype="qint8", symmetric=True),
        description="server x86: histogram activations, one symmetric scale per weight tensor",
    ))


@hookimpl
def register_datasets(register):
    register(DatasetSpec(
        "shapes", build_shapes, num_classes=6, image_size=32, channels=1, mean=(0.298,), std=(0.208,),
        augment=False,
        description="Shapes: 6,000 train / 1,200 test synthetic 32x32 grey images of 6 shapes",
        obtain="drawn from a fixed seed; nothing to download",
    ))
