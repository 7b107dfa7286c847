"""The pixel-noise baseline the run guards score a model against (genbench.engine.guard)."""

from __future__ import annotations

import torch

from genbench.api import randn_tensor
from genbench.api.dataset import DataInfo, ImageData
from genbench.api.model import GenerativeModel


class PixelNoise(GenerativeModel):
    """Independent Gaussian pixels with the training images' per-pixel mean and variance."""

    capabilities = frozenset({"sample"})

    def __init__(self, data: ImageData) -> None:
        super().__init__(None, data.info)
        x = ImageData.to_float(data.train_x).double()  # (N, C, H, W)
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer("mean", x.mean(0).float())  # (C, H, W)
        self.register_buffer("std", x.std(0).float())

    @classmethod
    def default_config(cls, info: DataInfo) -> None:
        return None

    @torch.no_grad()
    def sample(
        self, n: int, *, labels: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        noise = randn_tensor((n, *self.mean.shape), generator=generator, device=self.mean.device)
        return (self.mean + self.std * noise).clamp(0.0, 1.0)  # (n, C, H, W)
