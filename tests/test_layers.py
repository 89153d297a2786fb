"""zoo's layers (pyproject.toml's import-linter contracts): each layer imports only from the layers below it,
function-level imports included; built-in plugins use only the public plugin API; no code writes os.environ."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
LIBRARY = [p for folder in ("zoo", "registry", "plugins") for p in (ROOT / folder).rglob("*.py")
           if "tests" not in p.parts]


def lint_imports(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_every_layer_imports_only_downward_and_plugins_only_the_public_api():
    done = lint_imports()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 2 kept, 0 broken." in done.stdout


def test_the_contract_would_catch_an_upward_import(tmp_path):
    """The same layers with the plugin host placed under the core: the host's imports of the core now point up."""
    config = (ROOT / "pyproject.toml").read_text()
    swapped = config.replace('    "zoo.host",\n    "zoo.core",\n', '    "zoo.core",\n    "zoo.host",\n')
    assert swapped != config
    (tmp_path / "pyproject.toml").write_text(swapped)
    done = lint_imports("--config", str(tmp_path / "pyproject.toml"))
    assert done.returncode == 1
    assert re.search(r"zoo\.core is not allowed to import zoo\.host|zoo\.host\.\w+ -> zoo\.core", done.stdout), \
        done.stdout


def test_no_code_writes_the_environment():
    """Global options travel in the Context; a write to os.environ would leak them into other commands and
    subprocesses."""
    writes = []
    for path in LIBRARY:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
                node, (ast.AugAssign, ast.AnnAssign)) else []
            for target in targets:
                if isinstance(target, ast.Subscript) and ast.unparse(target.value) == "os.environ":
                    writes.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                called = ast.unparse(node.func)
                if called in ("os.putenv", "os.unsetenv") or (
                        called.startswith("os.environ.") and node.func.attr in ("update", "setdefault", "pop",
                                                                                "clear", "popitem")):
                    writes.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert writes == []
