"""A model version as files: the same directory on disk, in the registry and on the Hub.

    model.safetensors  the state dict, through the codec (no pickle)
    config.json        what rebuilds the module tree before the weights go in
    card.json          metrics and provenance, the version digest, and the
                       sha256 and size of every other file
    README.md          a Hugging Face model card rendered from card.json

The version digest is the sha256 of the canonical JSON of the model's and
config's sha256 and of the card without its derived fields (name, version,
files). Changing a weight, a setting or a figure changes the version; a
renamed copy keeps it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from zoo.core.errors import IntegrityError, SchemaVersionError

MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
CARD_FILE = "card.json"
README_FILE = "README.md"
FILES = (README_FILE, CONFIG_FILE, CARD_FILE, MODEL_FILE)
# Files whose sha256 the card records: every file but the card itself.
HASHED_FILES = (MODEL_FILE, CONFIG_FILE, README_FILE)

ARTIFACT_FORMAT = "zoo-artifact"
# 2: config.json names the quantization "backend" (version 1 had "mode": eager or fx, the torch.ao backends).
ARTIFACT_VERSION = 2
DERIVED_CARD_FIELDS = ("name", "version", "files")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def pretty_json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode()


def version_digest(model_sha: str, config_sha: str, card: Mapping[str, Any]) -> str:
    content = {k: v for k, v in card.items() if k not in DERIVED_CARD_FIELDS}
    return sha256(canonical_json({"model": model_sha, "config": config_sha, "card": content}))


def render(model_bytes: bytes, config: Mapping[str, Any], card: Mapping[str, Any], name: str) -> dict[str, bytes]:
    """The four files of a version, with the card completed by its name, version and file digests."""
    from zoo_registry.modelcard import render_readme

    config_bytes = pretty_json(config)
    model_sha, config_sha = sha256(model_bytes), sha256(config_bytes)
    full = {"name": name, "version": version_digest(model_sha, config_sha, card), **card}
    readme = render_readme(full).encode()
    full["files"] = {
        MODEL_FILE: {"sha256": model_sha, "size": len(model_bytes)},
        CONFIG_FILE: {"sha256": config_sha, "size": len(config_bytes)},
        README_FILE: {"sha256": sha256(readme), "size": len(readme)},
    }
    return {MODEL_FILE: model_bytes, CONFIG_FILE: config_bytes, CARD_FILE: pretty_json(full), README_FILE: readme}


def parse_json(data: bytes, path: Path) -> dict:
    """The JSON object of a card.json or config.json, refused before parsing if too large or too deeply nested."""
    from zoo_registry import schema
    return schema.parse(data, path.name, str(path.parent))


def read_json(path: Path) -> dict:
    try:
        return parse_json(path.read_bytes(), path)
    except FileNotFoundError:
        raise IntegrityError(f"{path} is missing") from None


def check_config(config: Mapping[str, Any], where: str) -> None:
    if config.get("format") != ARTIFACT_FORMAT:
        raise SchemaVersionError(f"{where} is not a zoo artifact (config.json has no format '{ARTIFACT_FORMAT}')")
    version = config.get("artifact_version")
    if not isinstance(version, int) or version > ARTIFACT_VERSION:
        raise SchemaVersionError(
            f"{where} was written by a newer zoo (artifact version {version}); this zoo reads up to version "
            f"{ARTIFACT_VERSION}: upgrade zoo"
        )


def safe_file_name(name: str) -> bool:
    """A card may only name plain files in the artifact's own directory."""
    return name in FILES


def verify(directory: Path, card: Mapping[str, Any], label: str) -> dict[str, bytes]:
    """Every file matches the sha256 the card records, and the card its version digest; returns the bytes read."""
    files = card.get("files")
    if not isinstance(files, dict) or set(files) != set(HASHED_FILES):
        raise IntegrityError(f"{label}: card.json does not list the files {', '.join(HASHED_FILES)}")
    contents = {}
    for name, expected in files.items():
        if not isinstance(expected, dict) or not safe_file_name(name):
            raise IntegrityError(f"{label}: card.json names a file outside the artifact: {name!r}")
        if not isinstance(expected.get("sha256"), str):
            raise IntegrityError(f"{label}: card.json: files.{name}.sha256 is not a string")
        path = directory / name
        if not path.is_file():
            raise IntegrityError(f"{label}: {name} is missing from {directory}")
        contents[name] = path.read_bytes()
        actual = sha256(contents[name])
        if actual != expected.get("sha256"):
            raise IntegrityError(
                f"{label}: {path} was altered (sha256 {actual[:12]}…, card.json records {str(expected.get('sha256'))[:12]}…)"
            )
    digest = version_digest(files[MODEL_FILE]["sha256"], files[CONFIG_FILE]["sha256"], card)
    if digest != card.get("version"):
        raise IntegrityError(f"{label}: {directory / CARD_FILE} was altered (its content no longer matches version "
                             f"{str(card.get('version'))[:12]}…)")
    return contents


def read_verified(directory: Path, label: str) -> tuple[dict, dict, bytes]:
    """(config, card, model bytes) of the artifact in ``directory``, after checking every file's digest and
    both JSON files against their schemas and each other (``zoo_registry.schema``)."""
    card = read_json(directory / CARD_FILE)
    contents = verify(directory, card, label)
    config = parse_json(contents[CONFIG_FILE], directory / CONFIG_FILE)
    check_config(config, label)
    check_files(card, config, label)
    return config, card, contents[MODEL_FILE]


def check_files(card: dict, config: dict, label: str) -> None:
    """card.json and config.json, each against its schema and both against each other."""
    from zoo_registry import schema
    schema.check_card(card, label)
    schema.check_config(config, label)
    schema.check_pair(card, config, label)
