"""The session's ``Context``, as the ``zoo`` group built it from its options and the environment."""

from __future__ import annotations

import click

from zoo.context import Context


def context() -> Context:
    """The Context of the command being run (one built from the environment outside a ``zoo`` invocation)."""
    from zoo.cli import progress

    obj = click.get_current_context().find_root().obj
    return obj if isinstance(obj, Context) else Context.from_environment(progress=progress.from_environment())
