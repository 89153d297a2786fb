"""Where zoo keeps its data: datasets, trained weights and the registry."""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "ZOO_HOME"


def zoo_home() -> Path:
    """``$ZOO_HOME``, else ``$XDG_DATA_HOME/zoo``, else ``~/.local/share/zoo``.

    Raises:
        StorageError: that path exists and is not a directory.
    """
    if os.environ.get(HOME_ENV):
        home = Path(os.environ[HOME_ENV]).expanduser()
    else:
        base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
        home = Path(base) / "zoo"
    if home.exists() and not home.is_dir():
        from zoo.core.errors import StorageError

        raise StorageError(f"{home} (ZOO_HOME) is a file, not a directory: set ZOO_HOME to a directory")
    return home


def datasets_dir() -> Path:
    return zoo_home() / "datasets"
