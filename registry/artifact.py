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
from typing import TYPE_CHECKING, Any

from zoo.core.errors import IntegrityError, SchemaVersionError

if TYPE_CHECKING:
    from zoo_registry.schema import Card, Config

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


def render(model_bytes: bytes, config: Config, card: Mapping[str, Any], name: str) -> dict[str, bytes]:
    """The four files of a version, with the card completed by its name, version and file digests.

    ``card`` is the card's content without those derived fields. The completed card goes through its schema
    (``zoo_registry.schema.Card``) before any file is returned, so nothing unreadable is ever written.

    Raises:
        IntegrityError: the card breaks its schema or does not describe ``config`` (a bug in the job that made it).
    """
    from zoo_registry import schema
    from zoo_registry.modelcard import render_readme

    def readme(full: dict) -> bytes:
        # The README is rendered from the typed card, whose file digests include the README's own: check the card
        # with stand-in digests to render it; the completed card is checked after.
        stand_in = {file_name: {"sha256": "0" * 64, "size": 0} for file_name in HASHED_FILES}
        return render_readme(schema.check_card({**full, "files": stand_in}, name)).encode()

    files, full = _assemble(model_bytes, config.to_dict(), card, name, readme)
    schema.check_pair(schema.check_card(full, name), config, name)
    return files


def forge(model_bytes: bytes, config: Mapping[str, Any], card: Mapping[str, Any], name: str) -> dict[str, bytes]:
    """The four files as ``render`` lays them out, digests and all, but whatever the card and config hold: what a
    hostile or newer artifact looks like, for tests of what zoo refuses. Never used to record a model."""
    return _assemble(model_bytes, config, card, name, lambda full: f"# {name}\n".encode())[0]


def _assemble(model_bytes: bytes, config: Mapping[str, Any], card: Mapping[str, Any], name: str,
              readme_of) -> tuple[dict[str, bytes], dict]:
    config_bytes = pretty_json(config)
    model_sha, config_sha = sha256(model_bytes), sha256(config_bytes)
    card = json.loads(json.dumps(card))  # as it will be read back: tuples as lists
    full = {"name": name, "version": version_digest(model_sha, config_sha, card), **card}
    readme = readme_of(full)
    full["files"] = {
        MODEL_FILE: {"sha256": model_sha, "size": len(model_bytes)},
        CONFIG_FILE: {"sha256": config_sha, "size": len(config_bytes)},
        README_FILE: {"sha256": sha256(readme), "size": len(readme)},
    }
    files = {MODEL_FILE: model_bytes, CONFIG_FILE: config_bytes, CARD_FILE: pretty_json(full), README_FILE: readme}
    return files, full


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


def read_verified(directory: Path, label: str) -> tuple[Config, Card, bytes]:
    """(config, card, model bytes) of the artifact in ``directory``, after checking every file's digest and
    both JSON files against their schemas and each other (``zoo_registry.schema``)."""
    card = read_json(directory / CARD_FILE)
    contents = verify(directory, card, label)
    config = parse_json(contents[CONFIG_FILE], directory / CONFIG_FILE)
    check_config(config, label)
    typed_card, typed_config = check_files(card, config, label)
    return typed_config, typed_card, contents[MODEL_FILE]


def check_files(card: dict, config: dict, label: str) -> tuple[Card, Config]:
    """card.json and config.json, each against its schema and both against each other; the typed views of both.

    Raises:
        SchemaVersionError: the card was made by a newer zoo.
        IntegrityError: a field breaks its schema or the two files disagree (naming the field).
    """
    from zoo_registry import schema
    typed_card = schema.check_card(card, label)
    typed_config = schema.check_config(config, label)
    schema.check_pair(typed_card, typed_config, label)
    return typed_card, typed_config
