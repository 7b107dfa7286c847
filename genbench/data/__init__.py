"""Built-in datasets, registered through the same hooks as plugins' datasets."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from genbench.errors import GenbenchError

if TYPE_CHECKING:  # importing genbench.data (the built-in datasets' plugin) must not import torch
    from genbench.api.dataset import ImageData


def data_root(explicit: str | Path | None = None) -> Path | None:
    """The data root: ``--data-dir``, else ``$GENBENCH_DATA``, else None."""
    root = explicit or os.environ.get("GENBENCH_DATA")
    return Path(root).expanduser() if root else None


def cache_root() -> Path:
    """Where unpacked and converted data are cached (never inside the data root)."""
    root = Path(os.environ.get("GENBENCH_CACHE", Path.home() / ".cache" / "genbench")).expanduser()
    existing = next((p for p in (root, *root.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise GenbenchError(
            f"cache folder {root} (GENBENCH_CACHE): {existing} is a file; point GENBENCH_CACHE at a folder"
        )
    return root


def load_dataset(name: str, root: str | Path | None = None) -> ImageData:
    """Load a registered dataset by name."""
    from genbench.plugins import get_plugins
    from genbench.specs import load_target

    spec = get_plugins().datasets.get(name)
    resolved = data_root(root)
    if resolved is not None and spec.needs_files and not resolved.is_dir():
        if resolved.exists():
            raise GenbenchError(
                f"data folder {resolved} is a file, not a folder: pass --data-dir (or GENBENCH_DATA) the folder "
                f"that holds {spec.layout or 'the dataset'}"
            )
        raise GenbenchError(f"data folder {resolved} does not exist: pass --data-dir or set GENBENCH_DATA to a folder")
    return load_target(spec.target)(resolved)
