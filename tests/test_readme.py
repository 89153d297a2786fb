"""The README stays true to the command line: every command and every ZOO_* variable the code reads is in it."""

from __future__ import annotations

import re
from pathlib import Path

from zoo.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_every_command_is_in_the_readme():
    missing = [name for name in main.commands if f"zoo {name}" not in README and f"`{name}`" not in README]
    assert missing == []


def test_every_zoo_environment_variable_is_in_the_readme():
    sources = [p for folder in ("zoo", "registry", "plugins") for p in (ROOT / folder).rglob("*.py")]
    variables = {v for path in sources for v in re.findall(r"\bZOO_[A-Z][A-Z_]*[A-Z]\b", path.read_text())}
    assert "ZOO_HOME" in variables and "ZOO_HUB_TIMEOUT" in variables
    assert sorted(v for v in variables if v not in README) == []
