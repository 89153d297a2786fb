"""A model from the user's own Python file: ``zoo quantize path/to/model.py:build_fn``.

The quick path for users who will not write a plugin package (the durable
path). The file is the user's own code, run because they named it on the
command line or in a call; zoo reads its bytes once, records their sha256,
and runs exactly those bytes. The architecture is registered as
``file:STEM.FUNCTION`` through a plugin added to the session's host.

What zoo records from it says which file made the model (its name, function
and sha256), never where to find it: loading such a model needs the same file
given again (``zoo --model-file PATH …``, ``zoo.load(NAME, model_file=PATH)``),
whose digest must match. A config.json from a registry or the Hub never makes
zoo import a file or module it names.
"""

from __future__ import annotations

import hashlib
import re
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.core.errors import IntegrityError, SettingError
from zoo.core.hookspecs import hookimpl
from zoo.core.specs import ModelSpec

PREFIX = "file:"
# PATH.py:FUNCTION, as typed on the command line.
REFERENCE = re.compile(r"^(?P<path>.+\.py):(?P<function>[A-Za-z_][A-Za-z0-9_]*)$")
# Larger "model files" are refused before they are read: a model definition is source code, not data.
MAX_FILE_BYTES = 1 << 20
# Plugin names of model files, so `zoo plugins` and the cards say where an architecture came from.
PLUGIN_PREFIX = "model-file "


@dataclass(frozen=True)
class ModelFile:
    """A user's Python file and the function in it that builds the float model: ``function(num_classes) ->
    nn.Module``."""

    path: Path
    function: str
    source: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.source).hexdigest()

    @property
    def arch(self) -> str:
        """``file:STEM.FUNCTION`` in lower case, characters an architecture name cannot hold as ``_``."""
        stem = re.sub(r"[^a-z0-9_-]", "_", self.path.stem.lower()).lstrip("_-") or "model"
        return f"{PREFIX}{stem}.{self.function.lower()}"

    def record(self) -> dict[str, str]:
        """What config.json and card.json keep: which file made the model, not where it is."""
        return {"name": self.path.name, "function": self.function, "sha256": self.sha256}


def is_reference(text: str) -> bool:
    return bool(REFERENCE.match(text))


def read(path: str | Path, function: str) -> ModelFile:
    """The file at ``path``, read once (what runs is what is hashed).

    Raises:
        SettingError: no such file, not a regular file, or larger than ``MAX_FILE_BYTES``.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise SettingError(f"model file {path}: no such file (give PATH.py:FUNCTION, e.g. model.py:build)")
    size = file.stat().st_size
    if size > MAX_FILE_BYTES:
        raise SettingError(f"model file {path} is {size} bytes, more than the {MAX_FILE_BYTES} a model definition "
                           "needs; weights go in --weights FILE.safetensors")
    return ModelFile(file.resolve(), function, file.read_bytes())


def parse(reference: str) -> ModelFile:
    """The ModelFile of ``PATH.py:FUNCTION``. Raises SettingError as ``read`` does, or on another form."""
    match = REFERENCE.match(reference)
    if not match:
        raise SettingError(f"model file {reference!r}: give PATH.py:FUNCTION, e.g. model.py:build")
    return read(match["path"], match["function"])


def _builder(model_file: ModelFile) -> Callable[[int], Any]:
    """Run the file's bytes as a fresh module and return its builder.

    Raises:
        SettingError: the file does not run (naming the error), or holds no callable ``function``.
    """
    module = types.ModuleType(f"zoo_model_file_{model_file.sha256[:16]}")
    module.__file__ = str(model_file.path)
    try:
        code = compile(model_file.source, str(model_file.path), "exec")
        exec(code, module.__dict__)  # the user's own file, run because they named it
    except Exception as exc:  # whatever the user's file raises is theirs to fix: one line naming it
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise SettingError(f"model file {model_file.path} failed to run: {type(exc).__name__}: {text}") from None
    build = getattr(module, model_file.function, None)
    if not callable(build):
        functions = sorted(name for name, value in vars(module).items()
                           if callable(value) and not name.startswith("_") and not isinstance(value, type))
        raise SettingError(f"model file {model_file.path} has no function '{model_file.function}'"
                           + (f"; it defines: {', '.join(functions[:10])}" if functions else ""))
    return build


def register(host, model_file: ModelFile, input_size: int = 224) -> str:
    """Run ``model_file`` and add its builder to ``host`` as architecture ``model_file.arch``; returns that name.

    The catalog then records the file's name, function and sha256 (``Catalog.model_files``). Registering the same
    file again changes nothing; another file under the same name replaces it.
    """
    name = f"{PLUGIN_PREFIX}{model_file.arch.removeprefix(PREFIX)}"
    known = host.added(name)
    if known is not None and known.record == model_file.record():
        return model_file.arch
    build = _builder(model_file)
    spec = ModelSpec(model_file.arch, build, input_size=input_size,
                     description=f"{model_file.path.name}:{model_file.function}, the user's own file "
                                 f"(sha256 {model_file.sha256[:12]}…)")

    class Plugin:
        arch = model_file.arch
        record = model_file.record()

        @hookimpl
        def register_models(self, register):
            register(spec)

    host.remove(name)
    host.add(Plugin(), name)
    return model_file.arch


def check_recorded(arch: str, recorded: dict[str, Any] | None, label: str, given_files: Mapping[str, Mapping]) -> None:
    """A model recorded from a Python file loads only when the user gave that very file to this session
    (``given_files``: the catalog's ``model_files``).

    Raises:
        IntegrityError: no file was given for it (saying how to give it), or the file given has another sha256.
    """
    if recorded is None:
        if arch.startswith(PREFIX):
            raise IntegrityError(f"{label}: architecture '{arch}' names a model file but config.json records none; "
                                 "zoo does not load it")
        return
    given = given_files.get(arch)
    how = (f"it was made from the Python file {recorded['name']} (function {recorded['function']}, sha256 "
           f"{recorded['sha256'][:12]}…); zoo never imports a file that an artifact names")
    given_as = f"{recorded['name']}:{recorded['function']}"
    if given is None and given_files:
        others = ", ".join(f"{g['name']}:{g['function']}" for g in given_files.values())
        raise IntegrityError(f"{label}: {how}; the file given ({others}) is not {given_as}: give PATH/{given_as}")
    if given is None:
        raise IntegrityError(f"{label}: {how}: give that file yourself (zoo --model-file PATH/{given_as} …, or "
                             f"zoo.load(NAME, model_file='PATH/{given_as}'))")
    if given["sha256"] != recorded["sha256"] or given["function"] != recorded["function"]:
        raise IntegrityError(f"{label}: {how}, but the file given, {given['name']}:{given['function']}, has sha256 "
                             f"{given['sha256'][:12]}…: give the file it was made from")
