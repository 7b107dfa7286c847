"""The contracts plugins implement (models, datasets, metrics) and the helpers they share.

``from genbench.api import EMA, randn_tensor`` is the public way to reach the shared helpers;
they are imported lazily so that importing ``genbench.api`` does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "EMA": "genbench.api.ema",
    "randn_tensor": "genbench.api.random",
    "rand_tensor": "genbench.api.random",
    "randint_tensor": "genbench.api.random",
    "normal_per_item": "genbench.api.random",
    "uniform_per_item": "genbench.api.random",
    "normal_from_uniform": "genbench.api.random",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'genbench.api' has no attribute {name!r}")
