"""How the artifact-version-2 fixtures in this directory were made (by zoo at the commit that added them):
one artifact of each kind as today's zoo records it (backend named, preprocessing, class names, licence, tie
rule), for later versions of zoo to keep loading.

    python -m tests.artifacts_v2.make

Run it again only to remake version 2; a later zoo that writes another version keeps these as they are.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from tests.artifacts_v1.make import probe

HERE = Path(__file__).resolve().parent
KINDS = {  # directory -> (preset, backend); None: float weights
    "int8-eager-static": ("fbgemm-histogram", "eager"),
    "int8-fx-static": ("fbgemm-minmax", "fx"),
    "int8-pt2e-static": ("x86-pt2e", "pt2e"),
    "int8-eager-qat": ("fbgemm-qat", "eager"),
    "int8-eager-dynamic": ("dynamic-int8", "eager"),
    "float": (None, None),
}
LABELS = ("circle", "square", "triangle", "cross")


def main() -> None:
    from tests.artifacts_v1 import fixture_plugin
    from zoo.core.versions import versions
    from zoo.evaluation import TOP_K_RULE
    from zoo.host.plugins import PluginHost
    from zoo.jobs.record import CARD_VERSION, plugin_info
    from zoo.testing import check_model
    from zoo_registry import artifact, codec
    from zoo_registry.config import make_config
    from zoo_registry.loading import build

    host = PluginHost()
    host.add(fixture_plugin, "fixture")
    catalog = host.catalog(strict=True)
    preprocessing = {"image_size": 16, "resize": "resize", "channels": 3, "mean": [0.5, 0.5, 0.5],
                     "std": [0.25, 0.25, 0.25], "in_channels": 3}
    for directory, (preset, backend) in KINDS.items():
        if preset is None:
            torch.manual_seed(0)
            model = catalog.model("fixture-cnn").build(4).eval()
            state, kind = model.state_dict(), "float"
        else:
            made = check_model("fixture-cnn", preset=preset, backend=backend, num_classes=4, catalog=catalog)
            state, kind = catalog.backend(backend).state_dict(made.model), "int8"
        config = make_config(kind=kind, arch="fixture-cnn", plugin=plugin_info(catalog, "fixture-cnn"), num_classes=4,
                             image_size=16, in_channels=3, preset=catalog.preset(preset) if preset else None,
                             backend=backend, versions=versions(), preprocessing=preprocessing, labels=LABELS)
        card = {"card_version": CARD_VERSION, "kind": kind, "arch": "fixture-cnn", "preset": preset,
                "backend": backend, "engine": config.engine,
                "method": catalog.preset(preset).method if preset else None, "top_k_rule": TOP_K_RULE,
                "dataset": {"name": "shapes", "split": "test", "images": 0, "image_size": 16, "num_classes": 4},
                "metrics": {"top1": 0.0, "top5": 0.0, "ties": 0.0, "size_bytes": 0, "latency": None},
                "created": "2026-11-30T00:00:00+00:00", "plugin": plugin_info(catalog, "fixture-cnn"),
                "license": "bsd-3-clause"}
        files = artifact.render(codec.encode(state), config, card, f"fixture-{directory}")
        target = HERE / directory
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir()
        for name, data in files.items():
            (target / name).write_bytes(data)
        # What this zoo computes with the rebuilt model, for a later zoo to reproduce exactly.
        model = build(config, files[artifact.MODEL_FILE], catalog)
        engine = catalog.backend(backend).engine(config.engine) if backend else torch.no_grad()
        with engine, torch.no_grad():
            outputs = model(probe()).tolist()
        (target / "expected-outputs.json").write_text(json.dumps(outputs) + "\n")
        print(directory, len(files[artifact.MODEL_FILE]), "bytes")


if __name__ == "__main__":
    main()
