"""How a recorded model runs: its backend's engine setting and what the runtimes need to know of it."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import Any

from zoo import runtimes
from zoo_registry.schema import Config


def engine_and_subject(config: Config, catalog) -> tuple[Callable[[], Any], runtimes.Subject]:
    """(engine, subject) for the model of ``config``: ``engine()`` is the context it runs in (its backend's
    quantized engine; nothing for a float model), ``subject`` tells the runtimes what it is."""
    backend_name = config.backend_name
    if not backend_name or config.preset is None:
        return contextlib.nullcontext, runtimes.Subject()
    backend = catalog.backend(backend_name)
    return (functools.partial(backend.engine, config.engine),
            runtimes.Subject(backend_name, config.preset.method, config.engine))
