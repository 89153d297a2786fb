"""config.json: everything needed to rebuild a version's module tree before its weights go in.

The preset is stored in full (engine, method, observers), so a model loads the
way it was made even if the preset's plugin has since changed or gone. Its one
definition is ``zoo_registry.schema.Config``; ``make_config`` is the one place
a new one is built.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from zoo.core.specs import Preset
from zoo_registry.artifact import ARTIFACT_FORMAT, ARTIFACT_VERSION
from zoo_registry.schema import Config, check_config

KINDS = ("int8", "float")


def preset_to_dict(preset: Preset) -> dict[str, Any]:
    """The preset as config.json holds it; equalization and module rules only where there are some (so a model
    without them stays readable by a zoo from before them), the plan as {module path: rule index}."""
    fields = dataclasses.asdict(preset)
    if not fields["equalize"]:
        del fields["equalize"]
    rules, plan = fields.pop("module_rules"), fields.pop("module_plan")
    if rules or plan:
        fields.update(module_rules=rules, module_plan={name: index for name, index in plan})
    return fields


def make_config(*, kind: str, arch: str, plugin: Mapping[str, Any], num_classes: int, image_size: int,
                in_channels: int, preset: Preset | None, backend: str | None, versions: Mapping[str, str],
                preprocessing: Mapping[str, Any] | None = None, labels: Sequence[str] | None = None,
                model_file: Mapping[str, str] | None = None) -> Config:
    """config.json for a new version: what rebuilds the module tree, and how to feed it (``preprocessing``:
    see ``zoo.data.preprocessing``; ``labels``: the class names in output order, where the dataset has them;
    ``model_file``: the name, function and sha256 of the user's Python file the architecture came from, if so).

    Raises:
        ValueError: ``kind`` is neither int8 nor float.
        IntegrityError: a value breaks config.json's schema (e.g. labels that do not match ``num_classes``).
    """
    from zoo_registry import codec
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    return check_config({
        "format": ARTIFACT_FORMAT,
        "artifact_version": ARTIFACT_VERSION,
        "codec": {"format": codec.FORMAT, "version": codec.CODEC_VERSION},
        "kind": kind,
        "arch": arch,
        "plugin": dict(plugin),
        "num_classes": num_classes,
        "image_size": image_size,
        "in_channels": in_channels,
        "preset": _json(preset_to_dict(preset)) if preset else None,
        "engine": preset.engine if preset else None,
        "backend": backend,
        "versions": dict(versions),
        **({"preprocessing": _json(dict(preprocessing))} if preprocessing else {}),
        **({"labels": list(labels)} if labels else {}),
        **({"model_file": dict(model_file)} if model_file else {}),
    }, f"{arch} ({kind})")


def _json(value: Any) -> Any:
    """Tuples as lists, as JSON holds them (the schema reads JSON values strictly)."""
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    return value
