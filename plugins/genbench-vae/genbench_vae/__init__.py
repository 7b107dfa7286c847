"""genbench-vae: a convolutional VAE and a class-conditional CVAE for genbench.

Importing this package is cheap (no torch): the models live in :mod:`genbench_vae.vae` and
:mod:`genbench_vae.cvae` and are imported when genbench first builds one.
"""

from __future__ import annotations

__version__ = "0.2.0"
