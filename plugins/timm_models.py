"""timm's pretrained ImageNet-1K classifiers as ``timm:ARCH.TAG`` (``timm:resnet50.a1_in1k``), with no plugin code.

Needs timm (``pip install 'zoo[timm]'``); without it this plugin registers
nothing. Each pretrained tag whose classifier has ImageNet-1K's 1000 classes
becomes an architecture built by ``timm.create_model`` and quantized by a
backend that traces graphs (``fx`` or ``pt2e``; declared, not measured for each
of timm's models: one that cannot be traced is reported in one line). Its
weights (named by the tag) come through timm's own Hub loading
(``timm.create_model(..., pretrained=True)``: the Hugging Face Hub repository
``timm/ARCH.TAG``, safetensors first, any other file read with
``weights_only=True``), into the Hugging Face cache, so they load offline once
cached. The tag's pretrained config (input size, mean, std, crop) goes with
them: zoo evaluates and calibrates on ImageNet-1K the way timm does, and
config.json records it.

Listing must not import torch, so the tags and their configs are declared in
``timm_models.json``, written for the installed timm by::

    python -m zoo_plugins.timm_models

With another timm installed, the listing is read from timm itself (importing it).
"""

from __future__ import annotations

import functools
import importlib.util
import json
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from zoo import KnownWeights, ModelSpec, hookimpl

PREFIX = "timm:"
DECLARED = Path(__file__).with_name("timm_models.json")
IMAGENET_CLASSES = 1000
BACKENDS = ("fx", "pt2e")
# Licences as timm's configs spell them that the Hub spells otherwise.
LICENSES = {"apache 2.0": "apache-2.0"}


def installed() -> str | None:
    """timm's installed version, without importing it; None when it is not installed."""
    if importlib.util.find_spec("timm") is None:
        return None
    return metadata.version("timm")


def build(arch: str, num_classes: int):
    """timm's ``arch`` in float with random weights and ``num_classes`` outputs."""
    import timm

    return timm.create_model(arch, pretrained=False, num_classes=num_classes)


def load(name: str) -> Mapping[str, Any]:
    """The float state dict of timm's pretrained ``name`` (ARCH.TAG), through timm's own Hub loading."""
    import timm

    return timm.create_model(name, pretrained=True).state_dict()


def read_timm() -> dict[str, dict[str, Any]]:
    """Each pretrained tag with ImageNet-1K's classes and a Hub repository: its architecture, input size, mean,
    std, crop ratio and licence (imports timm)."""
    import timm
    from timm.models import get_pretrained_cfg

    tags: dict[str, dict[str, Any]] = {}
    for name in timm.list_pretrained():
        cfg = get_pretrained_cfg(name)
        if cfg is None or cfg.num_classes != IMAGENET_CLASSES or not cfg.hf_hub_id or len(cfg.mean) != 3:
            continue
        license = LICENSES.get(str(cfg.license).lower(), str(cfg.license).lower()) if cfg.license else "unknown"
        tags[name] = {"architecture": cfg.architecture, "image_size": int(cfg.input_size[-1]),
                      "mean": [float(v) for v in cfg.mean], "std": [float(v) for v in cfg.std],
                      "crop_ratio": float(cfg.crop_pct), "hub": cfg.hf_hub_id,
                      "license": license}
    return tags


def listing() -> dict[str, dict[str, Any]]:
    """The declared tags when made for the installed timm, else read from timm; none without timm."""
    version = installed()
    if version is None:
        return {}
    if DECLARED.exists():
        declared = json.loads(DECLARED.read_text())
        if declared.get("timm") == version:
            return declared["tags"]
    return read_timm()


def spec(name: str, entry: Mapping[str, Any]) -> ModelSpec:
    tag = name.split(".", 1)[1]
    weights = functools.partial(
        KnownWeights, name=tag, dataset="imagenet-1k", num_classes=IMAGENET_CLASSES, image_size=entry["image_size"],
        load=functools.partial(load, name), source=f"timm {name} ({entry['hub']})", hub_repo=entry["hub"],
        mean=tuple(entry["mean"]), std=tuple(entry["std"]), crop_ratio=entry["crop_ratio"])
    try:
        known = weights(license=entry["license"])
    except ValueError:  # a licence the Hub does not list by that name: the Hub's catch-all
        known = weights(license="other")
    return ModelSpec(f"{PREFIX}{name}", functools.partial(build, entry["architecture"]),
                     description=f"timm's {entry['architecture']} with its {tag} weights", backends=BACKENDS,
                     input_size=entry["image_size"], weights=(known,))


@hookimpl
def register_models(register):
    for name, entry in sorted(listing().items()):
        register(spec(name, entry))


def main() -> None:
    """Write ``timm_models.json`` for the installed timm."""
    tags = read_timm()
    DECLARED.write_text(json.dumps({"timm": installed(), "tags": tags}, sort_keys=True, separators=(",", ":")) + "\n")
    print(f"{len(tags)} timm tags with ImageNet-1K classifiers written to {DECLARED}")


if __name__ == "__main__":
    main()
