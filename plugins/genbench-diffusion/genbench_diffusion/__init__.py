"""genbench-diffusion: DDPM and latent diffusion for genbench.

Importing this package is cheap (no torch): the models are reached through the ``"module:Class"``
targets registered in :mod:`genbench_diffusion.plugin`.
"""

__version__ = "0.1.0"
