"""A convolutional autoencoder (Hinton & Salakhutdinov 2006, Science 313:504).

The encoder maps an image to a ``latent_dim`` code; the decoder maps it back to per-pixel
logits. The default loss is the cross-entropy of the 8-bit intensities k/255 under a Bernoulli
of mean sigmoid(logit), summed over pixels (Vincent et al. 2008 use it for inputs in [0, 1]);
it is a reconstruction loss, not a likelihood, since the targets are not binary. ``mse`` is the
alternative. ``encode`` is the code, ``reconstruct`` the sigmoid of the decoder's logits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from genbench.api.dataset import DataInfo
from genbench.api.model import Batch, GenerativeModel, StepContext
from genbench.config import setting
from genbench_ae.nets import Decoder, Encoder


@dataclass
class AEConfig:
    latent_dim: int = setting(32, ge=1, le=4096)  # size of the code: the features `encode` gives
    hidden: int = setting(16, ge=1, le=4096)  # channels at full resolution; doubled at each halving, capped at 4x
    lr: float = setting(1e-3, gt=0, le=1)  # Adam learning rate
    loss: Literal["bce", "mse"] = "bce"  # per-pixel reconstruction loss, summed over pixels


def default_sizes(info: DataInfo) -> dict[str, int]:
    """Code size and width for a dataset: a quick (one-epoch) MNIST run trains in minutes on one CPU thread."""
    channels, height, width = info.shape
    if channels == 3:  # CIFAR-like RGB: wider nets and a larger code
        return {"latent_dim": 128, "hidden": 32}
    if height * width <= 64:  # 8x8 digits
        return {"latent_dim": 16, "hidden": 16}
    # 28x28 grayscale: widths 8-16-32 train a one-epoch run in about 2 minutes on one CPU thread
    # (16-32-64 take 7); the code stays as large as the VAE's, 32.
    return {"latent_dim": 32, "hidden": 8}


def reconstruction_loss(logits: torch.Tensor, x: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-image reconstruction loss of targets ``x`` in [0, 1] from decoder logits: (B,)."""
    if kind == "bce":
        per_pixel = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    else:
        per_pixel = (torch.sigmoid(logits) - x) ** 2
    return per_pixel.flatten(1).sum(1)


class AE(GenerativeModel):
    """Convolutional autoencoder: ``encode`` is the code, ``reconstruct`` its decoding."""

    Config = AEConfig
    capabilities = frozenset({"reconstruct", "encode"})

    def __init__(self, config: AEConfig, info: DataInfo) -> None:
        super().__init__(config, info)
        self.encoder = Encoder(info.shape, config.hidden, config.latent_dim)
        self.decoder = Decoder(info.shape, config.hidden, config.latent_dim)

    @classmethod
    def default_config(cls, info: DataInfo) -> AEConfig:
        return cls.Config(**default_sizes(info))

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's training input for clean images ``x``; the plain AE sees them as they are."""
        return x

    def reconstruction_loss(self, x: torch.Tensor) -> torch.Tensor:
        """Mean over the batch of the per-image loss of reconstructing ``x`` from ``corrupt(x)``."""
        logits = self.decoder(self.encoder(self.corrupt(x)))  # (B, C, H, W)
        return reconstruction_loss(logits.float(), x, self.config.loss).mean()

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"autoencoder": torch.optim.Adam(self.parameters(), lr=self.config.lr)}

    def training_step(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        with ctx.autocast():
            loss = self.reconstruction_loss(batch.x)  # labels are not used
        ctx.optimize(loss, "autoencoder")
        return {"loss": loss.detach()}

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code of clean images: (B, latent_dim)."""
        return self.encoder(x).float()

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """sigmoid(decoder(encoder(x))): (B, C, H, W) in [0, 1]."""
        return torch.sigmoid(self.decoder(self.encoder(x)).float())
