"""How the artifact-version-1 fixtures in this directory were made (by zoo at commit e975a76).

    python -m tests.artifacts_v1.make

Kept to say what the fixtures are; a later zoo writes newer artifact versions,
so running it again would not remake version 1.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
KINDS = {  # directory -> (preset, mode); None: float weights
    "int8-eager-static": ("fbgemm-histogram", "eager"),
    "int8-fx-static": ("fbgemm-minmax", "fx"),
    "int8-eager-qat": ("fbgemm-qat", "eager"),
    "int8-eager-dynamic": ("dynamic-int8", "eager"),
    "float": (None, None),
}


def main() -> None:
    from tests.artifacts_v1 import fixture_plugin
    from zoo.host.plugins import PluginHost
    from zoo.testing import check_model
    from zoo.core.versions import versions
    from zoo_registry import artifact
    from zoo_registry.config import make_config
    from zoo.jobs.record import CARD_VERSION, plugin_info
    from zoo_registry import codec
    host = PluginHost()
    host.add(fixture_plugin, "fixture")
    catalog = host.catalog(strict=True)
    for directory, (preset, mode) in KINDS.items():
        if preset is None:
            torch.manual_seed(0)
            model = catalog.model("fixture-cnn").build(4).eval()
            state, kind = model.state_dict(), "float"
        else:
            state, kind = check_model("fixture-cnn", preset=preset, mode=mode, num_classes=4,
                                      catalog=catalog).model.state_dict(), "int8"
        config = make_config(kind=kind, arch="fixture-cnn", plugin=plugin_info(catalog, "fixture-cnn"), num_classes=4,
                             image_size=16, in_channels=3, preset=catalog.preset(preset) if preset else None,
                             mode=mode, versions=versions())
        card = {"card_version": CARD_VERSION, "kind": kind, "arch": "fixture-cnn", "preset": preset, "mode": mode,
                "engine": config.engine, "method": catalog.preset(preset).method if preset else None,
                "dataset": {"name": "shapes", "split": "test", "images": 0, "image_size": 16, "num_classes": 4},
                "metrics": {"top1": 0.0, "top5": 0.0, "size_bytes": 0, "latency": None},
                "created": "2026-11-30T00:00:00+00:00", "plugin": plugin_info(catalog, "fixture-cnn")}
        files = artifact.render(codec.encode(state), config, card, f"fixture-{directory}")
        target = HERE / directory
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir()
        for name, data in files.items():
            (target / name).write_bytes(data)
        # What this zoo computes with the rebuilt model, for a later zoo to reproduce exactly.
        from zoo_registry.loading import build

        model = build(config, files[artifact.MODEL_FILE], catalog)
        with _engine(config.engine), torch.no_grad():
            outputs = model(probe()).tolist()
        (target / "expected-outputs.json").write_text(json.dumps(outputs) + "\n")
        print(directory, len(files[artifact.MODEL_FILE]), "bytes")


def probe() -> torch.Tensor:
    """The input the expected outputs were computed on."""
    return torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))


def _engine(name):
    import contextlib

    from zoo.quantization.backends import torch_ao

    return torch_ao.engine(name) if name else contextlib.nullcontext()


if __name__ == "__main__":
    main()
