"""Progress bars for long steps, on stderr so that --json output on stdout stays clean."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable, Iterator

import click

QUIET_ENV = "ZOO_NO_PROGRESS"


@contextlib.contextmanager
def bar(iterable: Iterable, label: str, length: int | None = None) -> Iterator[Iterable]:
    if os.environ.get(QUIET_ENV):
        yield iterable
        return
    with click.progressbar(iterable, length=length, label=label, file=sys.stderr,
                           show_pos=True, show_eta=True, width=24) as items:
        yield items
