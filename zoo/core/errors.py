"""Every error zoo raises, in one module; all are exported from ``zoo``.

Each is a ``ZooError``: a failure a user can act on, whose message is one
line. Subclasses say what kind of failure it is, so a caller can tell them
apart without reading messages. Only the CLI turns them into exit codes and
printed lines (``zoo.cli.ZooGroup``).
"""

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
        if len(self.choices) <= MAX_LISTED:
            listed = ", ".join(self.choices) if self.choices else "(none available)"
            message = f"unknown {self.kind} '{self.value}'; valid choices: {listed}"
        else:
            # Too many to list (every torchvision classifier, say): the nearest ones, most alike first.
            nearest = difflib.get_close_matches(self.value, self.choices, n=MAX_LISTED // 2, cutoff=0)
            message = (f"unknown {self.kind} '{self.value}'; {len(self.choices)} valid choices, the nearest: "
                       f"{', '.join(nearest)}")
        if self.closest:
            message += f"; did you mean '{self.closest}'?"
        return message


class PluginError(ZooError):
    """A plugin failed to import, registered something invalid, or clashed with another."""


class DatasetUnavailableError(ZooError):
    """A dataset is neither on disk nor downloadable."""


class IncompatibleError(ZooError):
    """Parts that do not fit together: weights and dataset, preset and CPU, model and mode."""


class NonFiniteError(IncompatibleError):
    """NaN or infinity where numbers must be finite: float weights, calibration activations, a computed scale."""


class NoWeightsError(ZooError):
    """No float weights for an architecture on a dataset: train them, or name others with --weights."""


class WeightsFileError(ZooError):
    """A ``--weights`` file, or the card beside it, that is missing, not safetensors, or malformed."""


class SettingError(ZooError):
    """An option or environment variable whose value zoo cannot use (an unknown QAT setting, ZOO_HUB_TIMEOUT...)."""


class DownloadError(ZooError):
    """A file zoo fetches from outside the Hub (torchvision's checkpoints) could not be downloaded."""


class MissingPluginError(ZooError):
    """The architecture a model needs is not provided by any installed plugin."""


class BadReferenceError(ZooError):
    """A registry reference that is not written the way names are written."""


class AmbiguousReferenceError(BadReferenceError):
    """A version prefix that matches more than one version of a name."""


class NameInUseError(ZooError):
    """A pull would make a version from elsewhere the latest of a name this registry already holds."""


class SchemaVersionError(ZooError):
    """A file written by a newer zoo (index schema, artifact version) or by something that is not zoo."""


class HubError(ZooError):
    """The Hub refused or could not answer a request."""


class HubNotFoundError(HubError):
    """No such repository, revision or file on the Hub (or not one this token may read)."""


class HubMetadataError(HubError):
    """The Hub refused a model card's YAML metadata (README.md front matter): its message names the field."""


class HubAuthError(HubError):
    """The Hub refused the token, or the token may not do what was asked."""


class HubUnreachableError(HubError):
    """No network, HF_HUB_OFFLINE set, a Hub that stopped answering, or nothing cached to fall back on."""


class CodecError(ZooError):
    """An artifact that cannot be encoded or decoded safely."""


class IntegrityError(ZooError):
    """A stored file does not match the digest recorded for it."""


def closest_match(value: str, choices: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.5)
    return matches[0] if matches else None


class PluginCallError(ZooError):
    """A plugin's callable raised at run time; the message names the plugin, the callable and its subject."""

    def __init__(self, plugin: str, what: str, cause: BaseException):
        self.plugin = plugin
        self.what = what
        self.cause = cause
        text = str(cause).strip()
        detail = text.splitlines()[0] if text else "(no message)"
        super().__init__(f"plugin '{plugin}': {what} raised {type(cause).__name__}: {detail}")


class StorageError(ZooError):
    """A file or directory zoo needs cannot be read or written: permissions, a full or read-only disk, a corrupt
    or locked registry index. The message names the path and what to do."""


def storage_error(exc: OSError) -> StorageError | None:
    """The one-line StorageError for an OSError raised while zoo read or wrote its files, or None when ``exc``
    is not about storage (a network error, say)."""
    import errno

    path = exc.filename if exc.filename is not None else "(a file zoo needed)"
    if exc.errno is None:
        return None
    advice = {
        errno.EACCES: "permission denied: give yourself write access, or point --registry / ZOO_HOME at a "
                      "directory you own",
        errno.EPERM: "operation not permitted: point --registry / ZOO_HOME at a directory you own",
        errno.EROFS: "the file system is read-only: point --registry / ZOO_HOME at a writable directory",
        errno.ENOSPC: "no space left on the device: free some space and run the command again",
        errno.EDQUOT: "disk quota exceeded: free some space and run the command again",
        errno.ENOTDIR: "a part of this path is a file, not a directory: check ZOO_HOME, --registry and -o",
        errno.EISDIR: "this is a directory where zoo needs a file",
        errno.ENOENT: "no such file or directory",
        errno.EEXIST: "a file is in the way where zoo needs a directory: check ZOO_HOME, --registry and -o",
        errno.ENAMETOOLONG: "the path is too long",
    }.get(exc.errno)
    if advice is None:
        return None
    return StorageError(f"{path}: {advice}")
