"""Registry names: ``NAME`` means its latest version, ``NAME@DIGEST-PREFIX`` one exact version.

A name is 1 to 96 characters of lower-case letters, digits, ``_``, ``-`` and
``.``, starting with a letter or digit (``resnet18-int8``,
``mobilenet_v2-fashion-mnist``). A version is the sha256 digest of the
artifact's content; any unambiguous prefix of at least 6 hex digits selects it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from zoo.core.errors import AmbiguousReferenceError, BadReferenceError, ZooError  # noqa: F401 (re-exported)

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,95}$")
DIGEST_PATTERN = re.compile(r"^[0-9a-f]{6,64}$")
MIN_PREFIX = 6


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name or ""):
        raise BadReferenceError(
            f"invalid model name '{name}': use 1-96 lower-case letters, digits, '_', '-' and '.', "
            "starting with a letter or digit (e.g. resnet18-int8)"
        )
    return name


@dataclass(frozen=True)
class Reference:
    name: str
    version: str | None = None  # a digest prefix, or None for the latest

    def __str__(self) -> str:
        return f"{self.name}@{self.version}" if self.version else self.name


def parse(text: str) -> Reference:
    name, at, version = text.strip().partition("@")
    check_name(name)
    if not at:
        return Reference(name)
    version = version.lower()
    if not DIGEST_PATTERN.match(version):
        raise BadReferenceError(
            f"invalid version '{version}' in '{text}': write NAME@DIGEST with at least {MIN_PREFIX} "
            "hex digits of the version digest (see `zoo list`)"
        )
    return Reference(name, version)


def default_name(arch: str, method: str | None) -> str:
    """``ARCH-int8`` for a quantized model, ``ARCH-float`` for trained float weights (an architecture's
    ``prefix:`` becomes ``prefix-``: ``tv:efficientnet_b0`` → ``tv-efficientnet_b0-int8``)."""
    return f"{name_part(arch)}-{'float' if method is None else 'int8'}"


def name_part(arch: str) -> str:
    """``arch`` as part of a registry name, which cannot hold ':'."""
    return arch.replace(":", "-")
