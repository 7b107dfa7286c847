"""The backbone every restoring model of this plugin shares: a full-resolution residual conv net.

It reads a measurement's condition (:meth:`genbench.api.restoration.Measurements.condition`:
the classical fill and the observed-pixel mask, C + 1 channels) and keeps the image's
resolution throughout. Its residual blocks dilate 1, 2, 4, 8, 1, ... so that a few blocks see
across an 8x8 digit or a 14x14 hole in a 28x28 image. A latent code z, when given (the
conditional VAE's), shifts every block's features by a learnt projection of z.
"""

from __future__ import annotations

import torch
from torch import nn


class RestoreNet(nn.Module):
    """cond (B, in_ch, H, W) [+ z (B, z_dim)] -> (B, out_ch, H, W) unbounded outputs."""

    def __init__(self, in_ch: int, out_ch: int, hidden: int, blocks: int, z_dim: int = 0) -> None:
        super().__init__()
        self.inp = nn.Conv2d(in_ch, hidden, 3, padding=1)
        self.blocks = nn.ModuleList()
        for i in range(blocks):
            d = 2 ** (i % 4)
            self.blocks.append(
                nn.Sequential(
                    nn.SiLU(),
                    nn.Conv2d(hidden, hidden, 3, padding=d, dilation=d),
                    nn.SiLU(),
                    nn.Conv2d(hidden, hidden, 3, padding=1),
                )
            )
        self.z_proj = nn.Linear(z_dim, hidden * blocks) if z_dim else None
        self.out = nn.Sequential(nn.SiLU(), nn.Conv2d(hidden, out_ch, 3, padding=1))

    def forward(self, cond: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        h = self.inp(cond * 2.0 - 1.0)  # (B, hidden, H, W); inputs centred from [0, 1]
        shifts = None
        if self.z_proj is not None:
            if z is None:
                raise ValueError("this network is conditioned on a latent z: pass it")
            shifts = self.z_proj(z).unflatten(1, (len(self.blocks), -1))  # (B, blocks, hidden)
        for i, block in enumerate(self.blocks):
            if shifts is not None:
                h = h + shifts[:, i, :, None, None]
            h = h + block(h)
        out: torch.Tensor = self.out(h)
        return out
