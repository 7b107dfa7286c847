"""Baseline: the raw pixels as features.

Nothing is learnt; ``encode`` flattens the image. It is the row every representation must beat
in a ``probe-acc`` table: a linear probe on pixels is multinomial logistic regression on the
images themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from genbench.api.dataset import DataInfo
from genbench.api.model import Batch, GenerativeModel, StepContext


@dataclass
class PixelsConfig:
    pass  # nothing to choose: the features are the C*H*W pixel values


class Pixels(GenerativeModel):
    Config = PixelsConfig
    capabilities = frozenset({"encode"})

    def __init__(self, config: PixelsConfig, info: DataInfo) -> None:
        super().__init__(config, info)

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {}  # nothing to train

    def training_step(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        return {}

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C*H*W) pixel values in [0, 1]."""
        return x.flatten(1).float()
