"""Text that came from outside (a server, a card, a file name), made safe to print on one terminal line.

A Hub's error message or a downloaded card can hold escape sequences that set
the window title or clear the screen, and a URL can carry ``user:secret@``.
zoo prints such text only through these functions.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit, urlunsplit

# C0 and C1 controls, DEL, and the bidirectional overrides that reorder what a terminal shows.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: object) -> str:
    """``text`` on one line: tabs and line breaks as spaces, every other control character (an escape sequence's
    introducer included) and bidi override as ``?``."""
    one_line = re.sub(r"[\t\r\n]+", " ", unicodedata.normalize("NFC", str(text)))
    return _UNPRINTABLE.sub("?", one_line)


def without_credentials(url: str) -> str:
    """``url`` without a ``user:password@`` part; other text is returned as it is."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:  # IPv6
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port is not None else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def redact_urls(text: str) -> str:
    """Every ``scheme://user:secret@host`` in ``text`` with its credentials removed."""
    return re.sub(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@]+@", r"\1", text)
