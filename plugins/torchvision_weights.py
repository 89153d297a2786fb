"""Loading torchvision's published weights through its own weights API, never unpickling code."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from zoo import ZooError

# torchvision's meta names ImageNet "ImageNet-1K"; zoo names datasets in lower case.
META_DATASETS = {"ImageNet-1K": "imagenet-1k"}
# torchvision's figures are on the whole validation split; its meta does not repeat how many images that is.
EVAL_IMAGES = {"imagenet-1k": 50_000}


def _weights(module: str, enum: str, member: str):
    return getattr(getattr(importlib.import_module(module), enum), member)


def _checkpoint_path(url: str) -> Path:
    torch_home = os.environ.get("TORCH_HOME") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "torch"
    return Path(torch_home) / "hub" / "checkpoints" / url.rsplit("/", 1)[-1]


def state_dict_loader(module: str, enum: str, member: str) -> Callable[[], Mapping]:
    """A loader for ``module.enum.member`` that torchvision downloads into $TORCH_HOME/hub/checkpoints."""

    def load() -> Mapping:
        weights = _weights(module, enum, member)
        try:
            # weights_only=True: a .pth is a pickle, and only tensors may come out of it.
            return weights.get_state_dict(progress=True, check_hash=True, weights_only=True)
        except Exception as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ZooError(
                f"could not load torchvision weights {enum}.{member} from {weights.url} ({reason}); "
                f"with no network, place the file at {_checkpoint_path(weights.url)}"
            ) from None

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
