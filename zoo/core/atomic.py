"""Writing files so that a crash or Ctrl-C leaves either the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

# Every file this process finished writing, so an interrupted command can say truthfully what it left behind.
WRITTEN: list[str] = []


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary file beside ``path`` for the caller to write; when the block ends normally it replaces ``path``
    (with the permissions open() would have given it) and is recorded in ``WRITTEN``, otherwise it is removed.
    ``path``'s directory must exist."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        _usual_permissions(tmp)
        os.replace(tmp, path)
        WRITTEN.append(str(path))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _usual_permissions(path: str) -> None:
    """What open() would have given the file: mkstemp makes it readable by its owner only."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


def write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))
