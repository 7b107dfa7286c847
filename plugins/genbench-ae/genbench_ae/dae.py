"""A denoising autoencoder (Vincent, Larochelle, Bengio & Manzagol 2008, ICML).

Training corrupts each image with masking noise, setting a random fraction ``corruption`` of
its pixels to 0 (the paper's "destroyed" components, sec. 2.3), and asks the autoencoder to
reconstruct the clean image (sec. 2.3, eq. 3: the loss compares with x, not the corrupted x̃).
At evaluation the encoder sees clean images, as in the paper's feature extraction. Everything
else is the :class:`~genbench_ae.ae.AE`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from genbench.config import setting
from genbench_ae.ae import AE, AEConfig


@dataclass
class DAEConfig(AEConfig):
    # fraction of pixels masked to 0 during training (the paper tries 0-50%)
    corruption: float = setting(0.25, ge=0, lt=1)


class DAE(AE):
    Config = DAEConfig

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        """Masking noise: each pixel kept with probability 1 - corruption, else set to 0."""
        if not self.training:
            return x
        keep = torch.rand_like(x) >= self.config.corruption  # (B, C, H, W) bool
        return x * keep
