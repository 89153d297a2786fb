"""Progress bars for long steps, on stderr so that --json output on stdout stays clean.

On a terminal this is click's bar; in a log (CI, a pipe) it prints a line every
tenth of the way, since a redrawn bar would not show there.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterable, Iterator

import click

QUIET_ENV = "ZOO_NO_PROGRESS"


def _logged(iterable: Iterable, label: str, length: int | None) -> Iterator:
    total = length if length is not None else (len(iterable) if hasattr(iterable, "__len__") else None)
    started = time.monotonic()
    next_mark = 0.1
    done = 0
    for item in iterable:
        yield item
        done += 1
        if total and done / total >= next_mark:
            click.echo(f"{label}: {done}/{total} ({time.monotonic() - started:.0f} s)", err=True)
            while next_mark <= done / total:
                next_mark += 0.1


@contextlib.contextmanager
def bar(iterable: Iterable, label: str, length: int | None = None) -> Iterator[Iterable]:
    if os.environ.get(QUIET_ENV):
        yield iterable
        return
    if not sys.stderr.isatty():
        click.echo(f"{label} ...", err=True)
        yield _logged(iterable, label, length)
        return
    with click.progressbar(iterable, length=length, label=label, file=sys.stderr,
                           show_pos=True, show_eta=True, width=24) as items:
        yield items
