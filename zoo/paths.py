"""Where zoo keeps its data: datasets, trained weights and the registry."""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "ZOO_HOME"


def zoo_home() -> Path:
    """``$ZOO_HOME``, else ``$XDG_DATA_HOME/zoo``, else ``~/.local/share/zoo``."""
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "zoo"


def datasets_dir() -> Path:
    return zoo_home() / "datasets"
