"""One error module: every error class lives in zoo.core.errors, is exported from zoo, and library code raises the
specific subclass rather than a bare ZooError."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import zoo
from zoo.core import errors

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = [p for folder in ("zoo", "registry", "plugins") for p in (ROOT / folder).rglob("*.py")
           if "tests" not in p.parts]


def test_every_error_class_is_in_zoo_errors_and_exported_from_zoo():
    classes = {name: cls for name, cls in inspect.getmembers(errors, inspect.isclass)
               if issubclass(cls, errors.ZooError) and cls.__module__ == errors.__name__}
    assert len(classes) >= 20
    for name, cls in classes.items():
        assert name in zoo.__all__ and getattr(zoo, name) is cls, name


def test_no_other_module_defines_an_error_class():
    elsewhere = []
    for path in LIBRARY:
        if path == ROOT / "zoo" / "core" / "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef) and any(
                    getattr(base, "id", getattr(base, "attr", "")).endswith(("Error", "Exception")) for base in node.bases):
                elsewhere.append(f"{path.relative_to(ROOT)}: {node.name}")
    assert elsewhere == []


def test_library_code_raises_specific_errors_not_a_bare_zoo_error():
    bare = []
    for path in LIBRARY:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) \
                    and getattr(node.exc.func, "id", None) == "ZooError":
                bare.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert bare == []


def test_old_import_paths_still_name_the_same_classes():
    from zoo.hub.errors import HubError, HubUnreachableError
    from zoo_registry.loading import MissingPluginError
    from zoo_registry.names import BadReferenceError

    assert (HubError, HubUnreachableError, MissingPluginError, BadReferenceError) == (
        zoo.HubError, zoo.HubUnreachableError, zoo.MissingPluginError, zoo.BadReferenceError)
