"""Recording an artifact that came from outside this process: a Hub download, or a sweep cell's worker.

Its files are data from elsewhere, so each is checked before anything is written: the file names, the
digests, both JSON files against their schemas and each other, and the model itself rebuilt through its
plugin and run once. Only then does it reach ``Registry.write``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from zoo.core.errors import IntegrityError
from zoo_registry import artifact

if TYPE_CHECKING:
    from zoo_registry.schema import Card, Config
    from zoo_registry.store import Entry, Registry


def check(files: Mapping[str, bytes], source: str) -> tuple[Card, Config]:
    """The typed card and config of an artifact's files, each through its schema and both against each other.

    Raises:
        IntegrityError: the files are not exactly the artifact's four, or a field breaks its schema or the files
            disagree (naming ``source`` and the field).
        SchemaVersionError: made by a newer zoo.
    """
    if set(files) != set(artifact.FILES):
        raise IntegrityError(f"{source}: an artifact is the files {', '.join(artifact.FILES)}, not "
                             f"{', '.join(sorted(map(repr, files)))[:200]}")
    card = artifact.parse_json(files[artifact.CARD_FILE], Path(source) / artifact.CARD_FILE)
    config = artifact.parse_json(files[artifact.CONFIG_FILE], Path(source) / artifact.CONFIG_FILE)
    artifact.check_config(config, source)
    return artifact.check_files(card, config, source)


def record_checked(registry: Registry, files: Mapping[str, bytes], source: str, catalog=None) -> Entry:
    """Record an artifact that came from outside, only after it passed every check.

    Its files must match the card's digests (``Registry.add`` checks them again), card.json and config.json their
    schemas and each other, its architecture must be installed, and the model must rebuild through its plugin and
    backend and give finite outputs of the right shape on a test input.

    Raises:
        ZooError: any failure (IntegrityError, MissingPluginError, SchemaVersionError, StorageError...); the
            registry is left as it was.
    """
    from zoo.host.plugins import get_catalog
    from zoo_registry.loading import build, check_runs, find_spec

    _, config = check(files, source)
    catalog = catalog or get_catalog()
    find_spec(config, catalog, source)
    # A model that would not load, or not run, is not worth recording.
    check_runs(build(config, files[artifact.MODEL_FILE], catalog), config, source, catalog)
    return registry.write(files)
