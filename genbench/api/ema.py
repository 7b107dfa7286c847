"""Exponential moving average of a module's weights (used for GAN generators and diffusion)."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


class EMA(nn.Module):
    """Holds a frozen copy of ``module`` whose weights track it: w_ema = d * w_ema + (1 - d) * w.

    Registered as a submodule of the model, so checkpoints carry it. Buffers (e.g. batch-norm
    statistics) are copied, not averaged.
    """

    def __init__(self, module: nn.Module, decay: float = 0.999) -> None:
        super().__init__()
        self.decay = decay
        self.module = copy.deepcopy(module).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        # One fused kernel per dtype/device group instead of one launch per tensor: on a GPU the
        # per-tensor loop costs as much as a small network's forward pass.
        averaged: list[torch.Tensor] = list(self.module.parameters())
        torch._foreach_lerp_(averaged, [p.detach() for p in module.parameters()], 1.0 - self.decay)
        for ema_b, b in zip(self.module.buffers(), module.buffers()):
            ema_b.copy_(b)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)
