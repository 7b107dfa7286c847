"""Baseline: the measurement itself, with the classical fill.

Nothing is learnt. Noise: the noisy image clipped to [0, 1]; inpainting: the holes filled with
the mean of the image's observed pixels; downsampling: nearest-neighbour upsampling
(:meth:`genbench.api.restoration.Measurements.fill`). Its K samples are K copies, so it has no
spread: the row every restoring model must beat on PSNR, and the zero of diversity.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from genbench.api.dataset import DataInfo
from genbench.api.model import Batch, GenerativeModel, StepContext
from genbench.api.restoration import Measurements


@dataclass
class MeasuredConfig:
    pass  # nothing to choose: the fill is fixed by the operator


class Measured(GenerativeModel):
    Config = MeasuredConfig
    capabilities = frozenset({"restore"})

    def __init__(self, config: MeasuredConfig, info: DataInfo) -> None:
        super().__init__(config, info)

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {}  # nothing to train

    def training_step(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        return {}

    @torch.no_grad()
    def restore(self, m: Measurements, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """K copies of the classical fill: (N, K, C, H, W)."""
        return m.fill().float().unsqueeze(1).expand(-1, k, -1, -1, -1).contiguous()
