"""Bounds on what a job may be asked for, checked before any work, for Python callers as for the command line.

Beyond them torch crashes outright (a thread pool of 100,000 segfaults) or
allocates without end; an artifact's schema allows at most 4096 pixels.
"""

from __future__ import annotations

import math

from zoo.core.errors import SettingError

MAX_IMAGE_SIZE = 1024
MAX_BATCH_SIZE = 1024
MAX_THREADS = 256
MAX_LR = 10.0
MAX_COUNT = 10**9
MAX_SEED = 2**63 - 1


def whole(name: str, value: object, low: int = 1, high: int = MAX_COUNT) -> None:
    """Refuse ``value`` unless it is None or a whole number in ``low..high``.

    Raises:
        SettingError: naming ``name``, the value and the range.
    """
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SettingError(f"{name} must be a whole number from {low} to {high}, got {value!r}")


def rate(name: str, value: object, high: float = MAX_LR) -> None:
    """Refuse ``value`` unless it is None or a finite number in (0, ``high``].

    Raises:
        SettingError: naming ``name``, the value and the range.
    """
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0 < value <= high:
        raise SettingError(f"{name} must be a number above 0 and at most {high:g}, got {value!r}")
