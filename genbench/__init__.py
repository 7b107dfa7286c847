"""genbench: a plugin-based benchmark tool for generative models.

Importing this package is cheap: torch-heavy code is reached lazily.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("genbench")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
