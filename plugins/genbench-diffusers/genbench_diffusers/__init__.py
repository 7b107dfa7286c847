"""Pretrained diffusers image pipelines as genbench models.

Importing this package is cheap: diffusers (and torch) load only when a run asks for a model.
"""

from __future__ import annotations

__version__ = "0.1.0"
