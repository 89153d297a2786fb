"""Versions recorded with every result, so a figure can be traced to the software that made it."""

from __future__ import annotations

from importlib import metadata


def versions() -> dict[str, str]:
    found = {}
    for package in ("zoo", "torch", "torchvision"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "unknown"
    return found
