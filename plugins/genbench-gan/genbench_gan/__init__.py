"""Generative adversarial networks for genbench: DCGAN, cGAN, WGAN-GP and StyleGAN.

Importing this package is cheap: the models (and torch) load only when a run asks for them.
"""

from __future__ import annotations

__version__ = "0.1.0"
