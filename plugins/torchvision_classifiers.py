"""Every torchvision classifier as ``tv:NAME``, quantizable through FX or pt2e with no hand-written variant.

``torchvision.models.list_models(module=torchvision.models)`` names them
(``tv:efficientnet_b0``, ``tv:regnet_y_400mf``, ``tv:convnext_tiny``...). Each
is torchvision's float model as its builder makes it; the backends that trace
graphs (``fx``: torch.fx; ``pt2e``: torch.export) insert the quantization, so
no QuantStub or FloatFunctional is needed. Each weights enum member becomes a
``KnownWeights`` (``imagenet1k-v1``, ``imagenet1k-swag-e2e-v1``...), fetched from
torchvision's URL, checked against the sha256 prefix in its file name, read
with ``weights_only=True``.

Listing must not import torch, so what torchvision offers (names, weights,
input sizes, licences) and which backends can trace each model are declared in
``torchvision_classifiers.json``, written by measuring them::

    python -m zoo_plugins.torchvision_classifiers   # about 15 minutes on 2 cores

When the installed torchvision is not the one measured, the listing is taken
from torchvision itself (importing it) and the backends are left undeclared:
a backend that cannot trace a model then says so in one line.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from zoo import KnownWeights, ModelSpec, hookimpl
from zoo_plugins.torchvision_weights import TORCHVISION_LICENSE, metrics_reader, state_dict_loader

PREFIX = "tv:"
FLOAT = "torchvision.models"
DECLARED = Path(__file__).with_name("torchvision_classifiers.json")
# Options every build gets: no auxiliary heads (their training-mode outputs are tuples), explicit initialisation.
OPTIONS = {"googlenet": {"aux_logits": False, "init_weights": True},
           "inception_v3": {"aux_logits": False, "init_weights": True}}
AUX_HEADS = {"googlenet": ("aux1.", "aux2."), "inception_v3": ("AuxLogits.",)}
# torchvision's SWAG weights (trained on Instagram's data) come under CC-BY-NC 4.0, not torchvision's BSD licence.
SWAG_LICENSE = "cc-by-nc-4.0"
BACKENDS = ("fx", "pt2e")
# The input size torchvision's ViT builders fix when built without weights.
VIT_SIZE = 224


def build(arch: str, num_classes: int):
    """torchvision's float ``arch`` with random weights and ``num_classes`` outputs."""
    import torchvision

    return torchvision.models.get_model(arch, weights=None, num_classes=num_classes, **OPTIONS.get(arch, {}))


def listing() -> dict[str, Any]:
    """{torchvision: version, models: {arch: {input_size, description, weights: [...], backends, untraced}}}:
    the declared file when it was made for the installed torchvision, else read from torchvision itself."""
    installed = metadata.version("torchvision")
    if DECLARED.exists():
        declared = json.loads(DECLARED.read_text())
        if declared.get("torchvision") == installed:
            return declared
    return {"torchvision": installed, "models": read_torchvision()}


def read_torchvision() -> dict[str, dict[str, Any]]:
    """What torchvision offers for each classifier: its input size, its weights (enum, member, crop size, licence,
    figures), without measuring backends (imports torchvision)."""
    import torchvision

    models: dict[str, dict[str, Any]] = {}
    for arch in torchvision.models.list_models(module=torchvision.models):
        enum = torchvision.models.get_model_weights(arch)
        weights = []
        for member in enum:
            if not member.meta.get("categories"):
                continue  # not a classifier's weights (vgg16's IMAGENET1K_FEATURES: features only, no figures)
            crop = member.transforms().crop_size
            if arch.startswith("vit_") and crop[0] != VIT_SIZE:
                continue  # a ViT's position embeddings fix its input size: these need another build
            weights.append({"enum": enum.__name__, "member": member.name, "image_size": int(crop[0]),
                            "num_classes": len(member.meta["categories"]),
                            "license": SWAG_LICENSE if "SWAG" in member.name else TORCHVISION_LICENSE})
        sizes = {w["member"]: w["image_size"] for w in weights}
        default = getattr(enum, "DEFAULT", None)
        models[arch] = {"input_size": sizes.get(default.name if default is not None else "", 224)
                        if not arch.startswith("vit_") else VIT_SIZE,
                        "weights": weights, "backends": None, "untraced": {}}
    return models


def weights_name(member: str) -> str:
    """``IMAGENET1K_SWAG_E2E_V1`` → ``imagenet1k-swag-e2e-v1``."""
    return member.lower().replace("_", "-")


def spec(arch: str, entry: Mapping[str, Any]) -> ModelSpec:
    weights = tuple(
        KnownWeights(name=weights_name(w["member"]), dataset="imagenet-1k", num_classes=w["num_classes"],
                     image_size=w["image_size"],
                     load=state_dict_loader(FLOAT, w["enum"], w["member"], drop=AUX_HEADS.get(arch, ())),
                     metrics=metrics_reader(FLOAT, w["enum"], w["member"]),
                     source=f"torchvision {w['enum']}.{w['member']}", license=w["license"])
        for w in entry["weights"])
    backends = entry.get("backends")
    untraced = entry.get("untraced") or {}
    note = "; ".join(f"{backend}: {why}" for backend, why in untraced.items())
    return ModelSpec(f"{PREFIX}{arch}", functools.partial(build, arch),
                     description=f"torchvision's {arch}" + (f" (cannot trace: {note})" if note else ""),
                     backends=tuple(backends) if backends else BACKENDS, input_size=entry["input_size"],
                     weights=weights)


@hookimpl
def register_models(register):
    for arch, entry in sorted(listing()["models"].items()):
        if entry.get("backends") == []:
            continue  # no backend can trace it: nothing zoo could quantize
        register(spec(arch, entry))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:200]}" if text else type(exc).__name__


def measure(arch: str, size: int) -> tuple[list[str], dict[str, str]]:
    """(backends that trace ``arch``, why the others do not): torch.fx's symbolic trace for fx, torch.export for
    pt2e, on the float model with random weights at ``size``."""
    import torch

    model = build(arch, 1000).eval()
    example = (torch.randn(1, 3, size, size),)
    traced, untraced = [], {}
    try:
        torch.fx.symbolic_trace(model)
        traced.append("fx")
    except Exception as exc:  # whatever torch.fx raises: the model is not FX-traceable
        untraced["fx"] = _first_line(exc)
    try:
        torch.export.export(model, example, strict=False)
        traced.append("pt2e")
    except Exception as exc:  # whatever torch.export raises: the model cannot be exported
        untraced["pt2e"] = _first_line(exc)
    return traced, untraced


def main() -> None:
    """Write ``torchvision_classifiers.json`` for the installed torchvision: its classifiers and what traces them."""
    import sys

    models = read_torchvision()
    for index, (arch, entry) in enumerate(sorted(models.items()), 1):
        entry["backends"], entry["untraced"] = measure(arch, entry["input_size"])
        print(f"[{index}/{len(models)}] {arch}: {', '.join(entry['backends']) or 'none'}"
              + "".join(f"; {b}: {why}" for b, why in entry["untraced"].items()), file=sys.stderr, flush=True)
    DECLARED.write_text(json.dumps({"torchvision": metadata.version("torchvision"), "models": models}, indent=1,
                                   sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
