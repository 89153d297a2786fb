"""Exporting a registry model for deployment: TorchScript, the tutorials' format."""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

from zoo.errors import ZooError
from zoo_registry.loading import load_reference


def export_torchscript(reference: str, output: str) -> tuple[Path, str]:
    """Script the model (trace it when scripting fails) and write it; returns (path, how)."""
    import torch

    model, config, _ = load_reference(reference)
    example = torch.randn(1, config["in_channels"], config["image_size"], config["image_size"])
    with warnings.catch_warnings():
        # TorchScript is deprecated upstream but is still what torch.jit.load and the tutorials use.
        warnings.simplefilter("ignore")
        program, how = _compile(model, example, reference)
        return _write(program, Path(output).expanduser()), how


def _compile(model, example, reference: str):
    import torch

    try:
        program, how = torch.jit.script(model), "scripted"
    except Exception:
        try:
            with torch.no_grad():
                program, how = torch.jit.trace(model, example), "traced"
        except Exception as exc:
            raise ZooError(f"cannot export {reference} to TorchScript: {str(exc).splitlines()[0]}") from None
    return program, how


def _write(program, path: Path) -> Path:
    """All or nothing: a failed or interrupted save leaves no partial file at ``path``."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        torch.jit.save(program, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
