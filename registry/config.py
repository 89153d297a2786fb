"""config.json: everything needed to rebuild a version's module tree before its weights go in.

The preset is stored in full (engine, method, observers), so a model loads the
way it was made even if the preset's plugin has since changed or gone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from zoo.core.errors import SchemaVersionError
from zoo.core.specs import Observer, Preset
from zoo_registry.artifact import ARTIFACT_FORMAT, ARTIFACT_VERSION

KINDS = ("int8", "float")


def preset_to_dict(preset: Preset) -> dict[str, Any]:
    return dataclasses.asdict(preset)


def preset_from_dict(data: Mapping[str, Any]) -> Preset:
    try:
        fields = dict(data)
        for side in ("activation", "weight"):
            if fields.get(side) is not None:
                fields[side] = Observer(**fields[side])
        fields["dynamic_modules"] = tuple(fields.get("dynamic_modules", ()))
        if fields.get("backends") is not None:
            fields["backends"] = tuple(fields["backends"])
        return Preset(**fields)
    except (TypeError, ValueError) as exc:
        raise SchemaVersionError(f"config.json holds a preset this zoo cannot read ({exc})") from None


def backend_of(config: Mapping[str, Any]) -> str | None:
    """The backend that made an int8 model; artifact version 1 called it "mode" (eager or fx, both torch.ao)."""
    return config.get("backend") or config.get("mode")


def make_config(*, kind: str, arch: str, plugin: Mapping[str, Any], num_classes: int, image_size: int,
                in_channels: int, preset: Preset | None, backend: str | None, versions: Mapping[str, str],
                preprocessing: Mapping[str, Any] | None = None, labels: Sequence[str] | None = None) -> dict:
    """config.json: what rebuilds the module tree, and how to feed it (``preprocessing``: see
    ``zoo.data.preprocessing``; ``labels``: the class names in output order, where the dataset has them)."""
    from zoo_registry import codec
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    return {
        "format": ARTIFACT_FORMAT,
        "artifact_version": ARTIFACT_VERSION,
        "codec": {"format": codec.FORMAT, "version": codec.CODEC_VERSION},
        "kind": kind,
        "arch": arch,
        "plugin": dict(plugin),
        "num_classes": num_classes,
        "image_size": image_size,
        "in_channels": in_channels,
        "preset": preset_to_dict(preset) if preset else None,
        "engine": preset.engine if preset else None,
        "backend": backend,
        "versions": dict(versions),
        **({"preprocessing": dict(preprocessing)} if preprocessing else {}),
        **({"labels": list(labels)} if labels else {}),
    }
