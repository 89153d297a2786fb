"""Bounded waits for every request zoo makes through the Hugging Face Hub client.

huggingface_hub bounds its file downloads and metadata requests with its own
settings (``HF_HUB_DOWNLOAD_TIMEOUT`` and ``HF_HUB_ETAG_TIMEOUT``, 10 s each by
default) but sends its API calls (repository info, commits, uploads) with no
timeout at all, so a Hub that accepts a connection and then stops answering
holds ``zoo pull`` or ``zoo push`` until the server gives up. zoo fills in the
timeouts a request was sent without:

- connect: ``HF_HUB_ETAG_TIMEOUT`` seconds (huggingface_hub's own setting);
- read, write and waiting for a pooled connection: ``ZOO_HUB_TIMEOUT``
  seconds (default 30), the longest a request waits for the next byte.

Timeouts the client set itself are kept. A stalled download is retried by the
client (5 more tries with back-off), so with the defaults a transfer that
stops mid-way ends after about 65 s with one line (``hub_errors``), and
nothing is recorded: zoo records only after every file arrived and passed its
checks.
"""

from __future__ import annotations

import os

TIMEOUT_ENV = "ZOO_HUB_TIMEOUT"
DEFAULT_TIMEOUT = 30.0


def read_timeout() -> float:
    """Seconds a request waits for the next byte (``ZOO_HUB_TIMEOUT``, default 30).

    Raises:
        SettingError: ``ZOO_HUB_TIMEOUT`` is not a positive number.
    """
    from zoo.core.errors import SettingError

    raw = os.environ.get(TIMEOUT_ENV)
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise SettingError(f"{TIMEOUT_ENV}={raw!r}: give a positive number of seconds, e.g. {TIMEOUT_ENV}=30")
    return value


def connect_timeout() -> float:
    from huggingface_hub import constants

    return float(constants.HF_HUB_ETAG_TIMEOUT)


def timeouts() -> dict[str, float]:
    """The waits zoo fills in, in seconds, keyed as httpx keys a request's timeout."""
    read = read_timeout()
    return {"connect": connect_timeout(), "read": read, "write": read, "pool": read}


def _fill_timeouts(request) -> None:
    given = request.extensions.get("timeout") or {}
    filled = {key: given.get(key) if given.get(key) is not None else value for key, value in BOUNDS.items()}
    request.extensions = {**request.extensions, "timeout": filled}


BOUNDS: dict[str, float] = {}


def bound_requests() -> None:
    """Make the client's shared HTTP session fill in zoo's timeouts (idempotent; read the settings now).

    Raises:
        SettingError: ``ZOO_HUB_TIMEOUT`` is not a positive number.
    """
    from huggingface_hub import get_session

    BOUNDS.update(timeouts())
    session = get_session()
    hooks = session.event_hooks
    if _fill_timeouts not in hooks.get("request", []):
        session.event_hooks = {**hooks, "request": [*hooks.get("request", []), _fill_timeouts]}
