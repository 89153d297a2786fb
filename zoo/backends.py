"""The quantization backends, for plugins that register or extend one (the ``register_backends`` hook).

``Backend`` is the protocol (see ``zoo.quantization.backends``); ``EagerBackend``
and ``FxBackend`` are torch.ao's eager and FX graph modes, ``Pt2eBackend``
torchao's export-based flow. Each is imported on first use, so importing this
module imports neither torch nor torchao.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "Backend": "zoo.quantization.backends",
    "EagerBackend": "zoo.quantization.backends.torch_ao",
    "FxBackend": "zoo.quantization.backends.torch_ao",
    "Pt2eBackend": "zoo.quantization.backends.pt2e",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'zoo.backends' has no attribute '{name}'")
    return getattr(importlib.import_module(_WHERE[name]), name)
