"""Published checkpoints (.pth files in torch.hub's cache), verified before anything is loaded from them.

torch.hub's convention puts the first hex digits of a file's sha256 in its
name (``resnet18-f37072fd.pth``; torchvision's quantized weights use ``_``:
``resnet18_fbgemm_16fa66dd.pth``). torch.hub checks them only right after a
download, and trusts any file already at the cached path; zoo checks the file
every time, so a truncated download or a placeholder put there by hand is
refused instead of being recorded with the publisher's figures. The file is
then read with ``torch.load(weights_only=True)``: tensors only, no code.

For plugins: ``load_state_dict(url, label)`` is what a ``KnownWeights.load``
calls for weights published at a URL.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path

from zoo.core.errors import DownloadError, IntegrityError

HASH_IN_NAME = re.compile(r"[-_]([0-9a-f]{8,64})\.[A-Za-z0-9]+$")


def hash_prefix(file_name: str) -> str | None:
    """The sha256 prefix a checkpoint's file name carries, or None."""
    match = HASH_IN_NAME.search(file_name)
    return match.group(1) if match else None


def cache_path(url: str) -> Path:
    """Where torch.hub keeps the file of ``url``: ``$TORCH_HOME/hub/checkpoints/NAME``."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def verify(path: Path, label: str) -> None:
    """Refuse ``path`` unless its sha256 starts with the prefix in its name.

    Raises IntegrityError naming the file, the prefix its name promises and what it holds.
    """
    prefix = hash_prefix(path.name)
    if prefix is None:
        raise IntegrityError(f"{label}: {path.name} carries no sha256 prefix in its name, so zoo cannot verify it")
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    actual = digest.hexdigest()
    if not actual.startswith(prefix):
        raise IntegrityError(f"{label}: {path} is not the published file: its name says sha256 {prefix}…, it holds "
                             f"{actual[:len(prefix)]}…; delete it, and download it again or put the right file there")


def fetch(url: str, label: str) -> Path:
    """The verified local file of ``url``: from torch.hub's cache, else downloaded there (verified either way)."""
    import torch.hub

    path = cache_path(url)
    if not path.exists():
        prefix = hash_prefix(path.name)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(url, str(path), hash_prefix=prefix, progress=True)
        except Exception as exc:  # no network, a refused URL, or a download that did not match its hash
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DownloadError(f"could not download {label} from {url} ({reason}); with no network, place the file "
                           f"at {path}") from None
    verify(path, label)
    return path


def load_state_dict(url: str, label: str) -> Mapping:
    """The state dict published at ``url``, after ``fetch``, read with ``torch.load(weights_only=True)``."""
    import torch

    path = fetch(url, label)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise IntegrityError(f"{label}: {path} is not a readable checkpoint ({reason})") from None
