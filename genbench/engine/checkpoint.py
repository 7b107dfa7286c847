"""Checkpoints: model, optimizers, loss scalers, RNG states and progress, written atomically."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from genbench.errors import GenbenchError


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write to a temporary file then rename: a kill mid-write never leaves a broken checkpoint.

    A failed write (a full disk) removes the temporary file and keeps the last good checkpoint.
    """
    tmp = path.with_suffix(".tmp")
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    if not path.exists():
        raise GenbenchError(f"checkpoint {path} is missing: the run cannot be resumed or evaluated")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise GenbenchError(
            f"checkpoint {path} is corrupt or truncated ({type(exc).__name__}); start a new run with `genbench run`"
        ) from None
    if not isinstance(state, dict) or "model" not in state or "step" not in state:
        raise GenbenchError(f"checkpoint {path} is not a genbench checkpoint; start a new run with `genbench run`")
    return state
