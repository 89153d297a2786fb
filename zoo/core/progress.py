"""How library code reports a long step without printing: the ``Progress`` protocol.

Library functions that loop for long (calibration, evaluation, training,
timing, downloads) take a ``progress`` argument and report through it; they
never print. ``QUIET`` reports nothing and is the default for Python callers.
The command line passes its own implementation (``zoo.cli.progress``), which
draws bars on a terminal and writes a line every tenth of the way in a log.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Protocol, TypeVar

T = TypeVar("T")


class Progress(Protocol):
    """What a long step reports to.

    ``shown`` is false when nothing is displayed, so a step may also silence a library's own bars
    (huggingface_hub's, torch.hub's download notice) to match.
    """

    shown: bool

    def steps(self, items: Iterable[T], label: str, length: int | None = None
              ) -> contextlib.AbstractContextManager[Iterable[T]]:
        """A context manager yielding ``items`` (``length`` of them when ``items`` has no ``len``), each one
        counted as it is taken, under ``label`` (e.g. "calibrating")."""
        ...


class Quiet:
    """Reports nothing."""

    shown = False

    @contextlib.contextmanager
    def steps(self, items: Iterable[T], label: str, length: int | None = None) -> Iterator[Iterable[T]]:
        yield items


QUIET = Quiet()
