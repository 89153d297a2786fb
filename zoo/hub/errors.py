"""huggingface_hub's exceptions, turned into the one-line errors zoo prints.

The client's own messages run to several lines (URLs, request ids, advice for
other libraries); a user needs to know which of a handful of things went wrong
and what to do about it. No message here includes a token: the client never
puts one in its errors, and these messages are built from names only.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from zoo.core.errors import (  # noqa: F401 (re-exported: the Hub's errors are named here too)
    HubAuthError,
    HubError,
    HubMetadataError,
    HubNotFoundError,
    HubUnreachableError,
    ZooError,
)

LOGIN_ADVICE = "set HF_TOKEN or run `hf auth login`"


def endpoint() -> str:
    from huggingface_hub import constants

    from zoo.core.printable import without_credentials

    return without_credentials(constants.ENDPOINT)


def offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _first_line(text: object) -> str:
    from zoo.core.printable import printable, redact_urls

    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return printable(redact_urls(lines[0]))[:300] if lines else ""


# The Hub's message for a licence lists every identifier it accepts: more than a line can hold.
MAX_REASON = 240


def metadata_refused(what: str, reason: str) -> HubMetadataError:
    """The one-line error for model card metadata the Hub refused, ``reason`` being the Hub's first message."""
    if len(reason) > MAX_REASON:
        reason = reason[:MAX_REASON].rsplit(",", 1)[0] + ", …]" if reason.count("[") else reason[:MAX_REASON] + "…"
    return HubMetadataError(f"the Hub refused the model card (README.md metadata) for {what}: {reason}; "
                            "nothing was pushed")


def translate(exc: BaseException, what: str, revision: str | None) -> ZooError | None:
    """The ZooError for a client exception raised while working on ``what`` (a repository), or None."""
    import httpx2
    from huggingface_hub import errors

    at = f" at revision '{revision}'" if revision else ""
    if isinstance(exc, errors.LocalEntryNotFoundError) and not offline():
        # snapshot_download reports a Hub that stopped answering, or answered 5xx, as "not in the cache";
        # the cause is what the user needs to hear.
        exc = _in_chain(exc, (httpx2.TimeoutException, errors.HfHubHTTPError)) or exc
    if isinstance(exc, errors.IncompleteSnapshotError):
        return HubUnreachableError(f"the Hub cache holds only part of {what}{at} and the Hub cannot be reached "
                                   f"({endpoint()}): pull it again with network access")
    if isinstance(exc, errors.LocalEntryNotFoundError) or isinstance(exc, errors.OfflineModeIsEnabled):
        if offline():
            return HubUnreachableError(f"HF_HUB_OFFLINE is set and {what}{at} is not in the Hub cache "
                                       f"({cache_dir()}): pull it once with network access")
        return HubUnreachableError(f"cannot reach the Hub at {endpoint()} and {what}{at} is not in the Hub cache; "
                                   "check the network (or HF_ENDPOINT)")
    if isinstance(exc, errors.GatedRepoError):
        return HubAuthError(f"{what} is gated: accept its conditions on the Hub, then {LOGIN_ADVICE}")
    if isinstance(exc, errors.RevisionNotFoundError):
        return HubNotFoundError(f"{what} has no revision '{revision or 'main'}' (give a branch, tag or commit sha)")
    if isinstance(exc, errors.RepositoryNotFoundError):
        return HubNotFoundError(f"Hub repository {what} not found at {endpoint()} (or it is private and your "
                                f"token may not read it: {LOGIN_ADVICE})")
    if isinstance(exc, errors.RemoteEntryNotFoundError):
        return HubNotFoundError(f"{what}{at} lacks a file zoo needs ({_first_line(exc.server_message or exc)})")
    if isinstance(exc, errors.LocalTokenNotFoundError):
        return HubAuthError(f"no Hub token found: {LOGIN_ADVICE}")
    if isinstance(exc, errors.HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else None
        if status == 401:
            return HubAuthError(f"the Hub at {endpoint()} refused the token (HTTP 401): {LOGIN_ADVICE} "
                                "with a valid token")
        if status == 403:
            return HubAuthError(f"the Hub refused access to {what} (HTTP 403): your token may not write there; "
                                "use a token with write access, or --repo in your own namespace")
        reason = _first_line(exc.server_message) or _first_line(exc)
        if status == 400 and "metadata" in reason.lower():
            return metadata_refused(what, reason.removeprefix("Invalid metadata in README.md:").strip())
        return HubError(f"the Hub answered HTTP {status} for {what}: {reason}")
    if isinstance(exc, errors.HFValidationError):
        return HubError(f"invalid Hub reference {what}: {_first_line(exc)}")
    if isinstance(exc, httpx2.TimeoutException):
        from zoo.hub.network import TIMEOUT_ENV

        return HubUnreachableError(f"the Hub at {endpoint()} stopped answering while zoo worked on {what} "
                                   f"({type(exc).__name__}; each wait is bounded by HF_HUB_DOWNLOAD_TIMEOUT for "
                                   f"files and {TIMEOUT_ENV} otherwise): try again later; running the same push "
                                   "or pull again is safe")
    if isinstance(exc, (httpx2.TransportError, ConnectionError)):
        return HubUnreachableError(f"cannot reach the Hub at {endpoint()} ({type(exc).__name__}); "
                                   "check the network (or HF_ENDPOINT)")
    return None


def _in_chain(exc: BaseException, types: tuple) -> BaseException | None:
    """The first exception of ``types`` among ``exc``'s causes (``exc`` itself excluded), or None."""
    seen = {id(exc)}
    link = exc.__cause__ or exc.__context__
    while link is not None and id(link) not in seen:
        if isinstance(link, types):
            return link
        seen.add(id(link))
        link = link.__cause__ or link.__context__
    return None


def cache_dir() -> str:
    from huggingface_hub import constants

    return os.fspath(constants.HF_HUB_CACHE)


@contextlib.contextmanager
def hub_errors(what: str, revision: str | None = None) -> Iterator[None]:
    """Re-raise the client's exceptions inside the block as one-line ZooErrors."""
    try:
        yield
    except ZooError:
        raise
    except Exception as exc:
        translated = translate(exc, what, revision)
        if translated is None:
            raise
        raise translated from None
