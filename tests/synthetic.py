"""Artifacts made of metadata alone, for tests and benchmarks of the registry's storage and index.

Their cards and configs pass the schemas (``zoo_registry.schema``) like real
ones; their weights are a few bytes, so they cannot be loaded as models.
"""

from __future__ import annotations

from zoo_registry import artifact
from zoo_registry.config import preset_to_dict
from zoo_registry.schema import check_config


def config(kind: str = "float", arch: str = "mobilenet_v2", preset=None, backend: str | None = None) -> dict:
    return {"format": artifact.ARTIFACT_FORMAT, "artifact_version": artifact.ARTIFACT_VERSION,
            "codec": {"format": "zoo-int8-safetensors", "version": 1}, "kind": kind, "arch": arch,
            "plugin": {"name": "mobilenet_v2", "package": "zoo", "version": "0.1.0"}, "num_classes": 10,
            "image_size": 32, "in_channels": 3, "preset": preset_to_dict(preset) if preset else None,
            "engine": preset.engine if preset else None, "backend": backend, "versions": {"zoo": "0.1.0"}}


def card(created: str, top1: float, kind: str = "float", arch: str = "mobilenet_v2", preset=None,
         backend: str | None = None, **extra) -> dict:
    return {"card_version": 1, "kind": kind, "arch": arch, "preset": preset.name if preset else None,
            "method": preset.method if preset else None, "engine": preset.engine if preset else None,
            "backend": backend, "created": created,
            "dataset": {"name": "fashion-mnist", "split": "test", "images": 10000, "image_size": 32,
                        "num_classes": 10},
            "metrics": {"top1": top1, "top5": max(top1, 99.0), "size_bytes": 1000,
                        "latency": {"p50_ms": 1.0, "p90_ms": 1.2, "batch_size": 1, "threads": 1}},
            "plugin": {"name": "mobilenet_v2", "package": "zoo", "version": "0.1.0"}, **extra}


def files(name: str, weights: bytes, created: str, top1: float, preset=None, arch: str = "mobilenet_v2",
          **extra) -> dict[str, bytes]:
    """The four files of a version named ``name``: int8 of ``preset`` (eager backend), or float without one."""
    kind, backend = ("int8", "eager") if preset else ("float", None)
    return artifact.render(weights, check_config(config(kind, arch, preset, backend), name),
                           card(created, top1, kind, arch, preset, backend, **extra), name)
