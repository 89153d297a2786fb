"""The errors zoo raises. Only the CLI turns them into exit codes and one-line messages."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


# A registry can hold thousands of names; a one-line error lists the first ones and the closest.
MAX_LISTED = 20


class ZooError(Exception):
    """A failure a user can act on; the CLI prints its message on one line."""

    exit_code = 2


class UnknownNameError(ZooError, LookupError):
    """A model, preset, dataset, weights or registry name that is not known."""

    def __init__(self, kind: str, value: str, choices: Iterable[str]):
        self.kind = kind
        self.value = value
        self.choices = sorted(set(choices))
        self.closest = closest_match(value, self.choices)
        super().__init__(self._message())

    def _message(self) -> str:
        shown = self.choices[:MAX_LISTED]
        listed = ", ".join(shown) if shown else "(none available)"
        if len(self.choices) > len(shown):
            listed += f", … ({len(self.choices) - len(shown)} more)"
        message = f"unknown {self.kind} '{self.value}'; valid choices: {listed}"
        if self.closest:
            message += f"; did you mean '{self.closest}'?"
        return message


class PluginError(ZooError):
    """A plugin failed to import, registered something invalid, or clashed with another."""


class DatasetUnavailableError(ZooError):
    """A dataset is neither on disk nor downloadable."""


class IncompatibleError(ZooError):
    """Parts that do not fit together: weights and dataset, preset and CPU, model and mode."""


class CodecError(ZooError):
    """An artifact that cannot be encoded or decoded safely."""


class IntegrityError(ZooError):
    """A stored file does not match the digest recorded for it."""


def closest_match(value: str, choices: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.5)
    return matches[0] if matches else None
