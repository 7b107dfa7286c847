"""Networks of the ae family, sized to the dataset: encoder, decoder, classifier head.

The encoder halves the resolution with stride-2 convolutions while the sides stay even and at
least 4 pixels (8x8 digits -> 4x4, 28x28 MNIST -> 14 -> 7, 32x32 CIFAR -> 16 -> 8 -> 4); widths
start at ``hidden`` and double at each level, capped at 4 * hidden. The decoder mirrors it.
"""

from __future__ import annotations

import torch
from torch import nn

from genbench.api.dataset import ImageData


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
    """x (B, C, H, W) in [0, 1] -> code (B, latent_dim)."""

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
        self.head = nn.Linear(widths[-1] * (h >> levels) * (w >> levels), latent_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.convs(x * 2.0 - 1.0)  # centred input; (B, widths[-1], h0, w0)
        return self.head(h.flatten(1))  # (B, latent_dim)


class Decoder(nn.Module):
    """code (B, latent_dim) -> per-pixel logits (B, C, H, W); sigmoid gives the image in [0, 1]."""

    def __init__(self, shape: tuple[int, int, int], hidden: int, latent_dim: int) -> None:
        super().__init__()
        c, h, w = shape
        levels = num_downsamples(h, w)
        widths = _widths(hidden, levels)
        self.start = (widths[-1], h >> levels, w >> levels)  # (channels, h0, w0)
        self.head = nn.Linear(latent_dim, widths[-1] * self.start[1] * self.start[2])
        layers: list[nn.Module] = [nn.SiLU()]
        for i in reversed(range(levels)):
            layers += [
                nn.Conv2d(widths[i + 1], widths[i + 1], 3, padding=1),
                nn.SiLU(),
                nn.ConvTranspose2d(widths[i + 1], widths[i], 4, stride=2, padding=1),  # doubles H and W
                nn.SiLU(),
            ]
        layers.append(nn.Conv2d(widths[0], c, 3, padding=1))
        self.convs = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.convs(self.head(z).view(-1, *self.start))  # (B, C, H, W) logits


def classifier_head(latent_dim: int, hidden: int, num_classes: int) -> nn.Sequential:
    """code (B, latent_dim) -> class logits (B, num_classes): a one-hidden-layer MLP.

    The code is standardised first (batch norm: batch statistics in training, running ones at
    evaluation), as the linear probe standardises features: an autoencoder's code has no set
    scale, and a head on unscaled codes learnt from 100 labels at a third of the accuracy.
    """
    return nn.Sequential(
        nn.BatchNorm1d(latent_dim), nn.Linear(latent_dim, hidden), nn.SiLU(), nn.Linear(hidden, num_classes)
    )


class LabelledSet:
    """The labelled subset the engine hands a semi-supervised model, and its training batches.

    Not a module: the subset is data, not state, and the engine hands it over again on resume.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        if x.dtype != torch.uint8 or x.dim() != 4 or y.shape != (len(x),):
            raise ValueError("set_labelled takes uint8 NCHW images and one int64 label per image")
        self.x, self.y = x, y

    def batch(self, step: int, batch_size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """The labelled batch of training step ``step``: drawn with replacement, seeded by the step,
        so a resumed run sees the batches an uninterrupted one does."""
        gen = torch.Generator().manual_seed(step)
        idx = torch.randint(len(self.y), (batch_size,), generator=gen)
        return ImageData.to_float(self.x[idx]).to(device), self.y[idx].to(device)
