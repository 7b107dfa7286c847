"""genbench: a plugin-based benchmark tool for generative models.

Importing this package is cheap: torch-heavy code is reached lazily.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import pluggy

try:
    __version__ = version("genbench")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

hookimpl = pluggy.HookimplMarker("genbench")
"""The marker plugins put on their hook implementations: ``@genbench.hookimpl``."""

__all__ = ["__version__", "hookimpl"]
