"""The command line's progress: bars on stderr (stdout stays clean for --json), or log lines.

On a terminal this is click's bar; in a log (CI, a pipe) it prints a line every
tenth of the way, since a redrawn bar would not show there. ``ZOO_NO_PROGRESS=1``
turns both off.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterable, Iterator, Sized
from typing import TypeVar

import click

from zoo.core.progress import QUIET, Progress

QUIET_ENV = "ZOO_NO_PROGRESS"
T = TypeVar("T")


class Bars:
    """Progress drawn by click on stderr."""

    shown = True

    @contextlib.contextmanager
    def steps(self, items: Iterable[T], label: str, length: int | None = None) -> Iterator[Iterable[T]]:
        if not sys.stderr.isatty():
            click.echo(f"{label} ...", err=True)
            yield _logged(items, label, length)
            return
        with click.progressbar(items, length=length, label=label, file=sys.stderr,
                               show_pos=True, show_eta=True, width=24) as shown:
            yield shown


def _logged(items: Iterable[T], label: str, length: int | None) -> Iterator[T]:
    total = length if length is not None else (len(items) if isinstance(items, Sized) else None)
    started = time.monotonic()
    next_mark = 0.1
    done = 0
    for item in items:
        yield item
        done += 1
        if total and done / total >= next_mark:
            click.echo(f"{label}: {done}/{total} ({time.monotonic() - started:.0f} s)", err=True)
            while next_mark <= done / total:
                next_mark += 0.1


def from_environment() -> Progress:
    """Bars, unless ZOO_NO_PROGRESS is set to anything but empty."""
    return QUIET if os.environ.get(QUIET_ENV) else Bars()
