"""Checkpoints: model, optimizers, loss scalers, RNG states and progress, written atomically."""

from __future__ import annotations

import errno
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
        # Our own file object: closed (its space freed) even when torch's writer fails midway.
        with open(tmp, "wb") as f:
            torch.save(state, f)
        os.replace(tmp, path)
    except BaseException as exc:
        # torch's writer reports a full disk as a RuntimeError ("unexpected pos ..."): say what it is.
        full = not isinstance(exc, OSError) and isinstance(exc, RuntimeError) and _nearly_full(path.parent)
        tmp.unlink(missing_ok=True)
        if full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from exc
        raise


def _nearly_full(folder: Path) -> bool:
    try:
        st = os.statvfs(folder)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 1 << 20


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
