"""Loading torchvision's published weights: verified against the hash in their file name, never unpickling code."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping

from zoo import checkpoints

# torchvision's licence (BSD-3-Clause) as a Hub licence identifier: the terms its published weights come with.
TORCHVISION_LICENSE = "bsd-3-clause"
# torchvision's meta names ImageNet "ImageNet-1K"; zoo names datasets in lower case.
META_DATASETS = {"ImageNet-1K": "imagenet-1k"}
# torchvision's figures are on the whole validation split; its meta does not repeat how many images that is.
EVAL_IMAGES = {"imagenet-1k": 50_000}


def _weights(module: str, enum: str, member: str):
    return getattr(getattr(importlib.import_module(module), enum), member)


def state_dict_loader(module: str, enum: str, member: str, drop: tuple[str, ...] = ()) -> Callable[[], Mapping]:
    """A loader for ``module.enum.member``: the file torchvision publishes, from $TORCH_HOME/hub/checkpoints or
    downloaded there, checked against the sha256 prefix in its name, read with weights_only=True; entries whose
    names start with one of ``drop`` (heads the built model leaves out) are left out."""

    def load() -> Mapping:
        weights = _weights(module, enum, member)
        state = checkpoints.load_state_dict(weights.url, f"torchvision weights {enum}.{member}")
        return {key: value for key, value in state.items() if not key.startswith(drop)} if drop else state

    return load


def metrics_reader(module: str, enum: str, member: str) -> Callable[[], Mapping]:
    """The figures torchvision publishes for these weights, read only when asked for."""

    def read() -> Mapping:
        meta = _weights(module, enum, member).meta
        figures = {}
        for name, m in meta.get("_metrics", {}).items():
            dataset = META_DATASETS.get(name, name.lower())
            figures[dataset] = {"top1": m["acc@1"], "top5": m["acc@5"]}
            if dataset in EVAL_IMAGES:
                figures[dataset]["images"] = EVAL_IMAGES[dataset]
        return figures

    return read
