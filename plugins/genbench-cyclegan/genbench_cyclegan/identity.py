"""The do-nothing translator: every table shows what leaving the image as it is scores."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from genbench.api.model import Batch, GenerativeModel, StepContext
from genbench.api.translation import check_direction


@dataclass
class IdentityConfig:
    pass


class Identity(GenerativeModel):
    """``translate(x, direction)`` returns ``x``. No parameters and no optimizer, so the engine
    runs it for zero steps (0 images seen) and stores it like any other run."""

    Config = IdentityConfig
    capabilities = frozenset({"translate"})

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {}

    def training_step(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        return {}  # nothing to learn

    @torch.no_grad()
    def translate(self, x: torch.Tensor, direction: str) -> torch.Tensor:
        check_direction(direction)
        return x.float().clone()
