"""Convolutional encoder and decoder shared by the VAE and the CVAE, sized to the dataset.

Both halves halve (or double) the resolution with stride-2 convolutions for as long as the
sides stay even and at least 4 pixels: 8x8 digits -> 4x4, 28x28 MNIST -> 14x14 -> 7x7,
32x32 CIFAR -> 16 -> 8 -> 4. Widths start at ``hidden`` and double at each level, capped at
4 * hidden. A conditioning vector (the CVAE's one-hot label) enters the decoder beside z; the
encoder sees only x, so that ``encode`` features never carry a label they were given.
"""

from __future__ import annotations

import torch
from torch import nn


def num_downsamples(height: int, width: int) -> int:
    """How many stride-2 halvings the image takes: sides stay even and >= 4 pixels."""
    n = 0
    while height % 2 == 0 and width % 2 == 0 and min(height, width) // 2 >= 4:
        height, width, n = height // 2, width // 2, n + 1
    return n


def _widths(hidden: int, levels: int) -> list[int]:
    """Channels at each resolution, full resolution first."""
    return [hidden * min(2**i, 4) for i in range(levels + 1)]


class Encoder(nn.Module):
    """x (B, C, H, W) in [0, 1] -> posterior mean and log-variance, each (B, latent)."""

    def __init__(self, shape: tuple[int, int, int], hidden: int, latent_dim: int) -> None:
        super().__init__()
        c, h, w = shape
        levels = num_downsamples(h, w)
        widths = _widths(hidden, levels)
        layers: list[nn.Module] = [nn.Conv2d(c, widths[0], 3, padding=1), nn.SiLU()]
        for i in range(levels):
            layers += [
                nn.Conv2d(widths[i], widths[i + 1], 4, stride=2, padding=1),  # halves H and W
                nn.SiLU(),
                nn.Conv2d(widths[i + 1], widths[i + 1], 3, padding=1),
                nn.SiLU(),
            ]
        self.convs = nn.Sequential(*layers)
        flat = widths[-1] * (h >> levels) * (w >> levels)
        self.head = nn.Linear(flat, 2 * latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = x * 2.0 - 1.0  # centre the input: (B, C, H, W) in [-1, 1]
        h = self.convs(h).flatten(1)  # (B, widths[-1] * h0 * w0)
        mean, logvar = self.head(h).chunk(2, dim=1)  # (B, latent) each
        return mean, logvar


class Decoder(nn.Module):
    """z (B, latent) [+ cond (B, K)] -> logistic location and log-scale per sub-pixel, each (B, C, H, W)."""

    def __init__(self, shape: tuple[int, int, int], hidden: int, latent_dim: int, cond_dim: int = 0) -> None:
        super().__init__()
        c, h, w = shape
        levels = num_downsamples(h, w)
        widths = _widths(hidden, levels)
        self.start = (widths[-1], h >> levels, w >> levels)  # (channels, h0, w0)
        self.head = nn.Linear(latent_dim + cond_dim, widths[-1] * self.start[1] * self.start[2])
        layers: list[nn.Module] = [nn.SiLU()]
        for i in reversed(range(levels)):
            layers += [
                nn.Conv2d(widths[i + 1], widths[i + 1], 3, padding=1),
                nn.SiLU(),
                nn.ConvTranspose2d(widths[i + 1], widths[i], 4, stride=2, padding=1),  # doubles H and W
                nn.SiLU(),
            ]
        layers.append(nn.Conv2d(widths[0], 2 * c, 3, padding=1))  # location and log-scale per channel
        self.convs = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if cond is not None:
            z = torch.cat([z, cond.to(z.dtype)], dim=1)  # (B, latent + K)
        h = self.head(z).view(-1, *self.start)  # (B, widths[-1], h0, w0)
        loc, log_scale = self.convs(h).chunk(2, dim=1)  # (B, C, H, W) each
        return loc, log_scale
