"""DCGAN: deep convolutional generator and discriminator (Radford, Metz & Chintala 2015).

Architecture guidelines of the paper (sec. 3): strided convolutions instead of pooling,
fractionally-strided ones in the generator, batch norm in both networks except the generator
output and the discriminator input, ReLU in G with a tanh output, LeakyReLU(0.2) in D.
Trained with the non-saturating loss and Adam(lr=2e-4, beta1=0.5).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genbench.api import EMA
from genbench.api.dataset import DataInfo
from genbench.api.model import Batch, GenerativeModel, StepContext
from genbench.config import setting
from genbench_gan.common import (
    WarnsOnCollapse,
    dcgan_init,
    ema_decay,
    frozen,
    gaussian,
    plan_resolution,
    refuse_labels,
    spread_ratio,
    to_signed,
    to_unit,
)


@dataclass
class DCGANConfig:
    z_dim: int = setting(100, ge=1, le=4096)  # the paper's latent size
    width: int = setting(64, ge=1, le=1024)  # channels at the finest hidden resolution; doubled at each coarser one
    lr: float = setting(2e-4, gt=0, le=1)  # Adam step size of the paper (sec. 4)
    beta1: float = setting(0.5, ge=0, lt=1)  # the paper lowered beta1 from 0.9 to 0.5 to stabilise training
    beta2: float = setting(0.999, ge=0, lt=1)
    ema: bool = False  # the paper samples the raw generator; True samples an EMA copy instead
    # images; half-life of the EMA weights (ramped up early in training)
    ema_half_life: int = setting(10_000, ge=1, le=10**9)


class DCGANGenerator(nn.Module):
    """z (B, z_dim) -> images (B, C, H, W) in [-1, 1].

    "Project and reshape" to the base grid, then one fractionally-strided 4x4 convolution per
    2x upsampling: 8x8 from 4x4, 28x28 from 7x7, 32x32 from 4x4.
    """

    def __init__(self, z_dim: int, width: int, shape: tuple[int, int, int]) -> None:
        super().__init__()
        channels, height, wide = shape
        h0, w0, n_up = plan_resolution(height, wide)
        widths = [width * 2**i for i in reversed(range(n_up))]  # coarse -> fine, e.g. [128, 64]
        self.base = (widths[0], h0, w0)
        self.project = nn.Linear(z_dim, widths[0] * h0 * w0, bias=False)
        layers: list[nn.Module] = [nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True)]
        for c_in, c_out in zip(widths, widths[1:]):
            layers += [
                nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
            ]
        # No batch norm on the output layer (sec. 3): it made samples oscillate in the paper.
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.project(z).view(-1, *self.base)  # (B, C0, h0, w0)
        return self.net(h)  # (B, C, H, W)


def dcgan_features(shape: tuple[int, int, int], width: int, *, batch_norm: bool = True) -> tuple[nn.Sequential, int]:
    """DCGAN's discriminator body: images (B, C, H, W) -> features (B, F), and F.

    One strided 4x4 convolution per 2x downsampling down to the base grid, which is flattened.
    """
    channels, height, wide = shape
    h0, w0, n_up = plan_resolution(height, wide)
    widths = [width * 2**i for i in range(n_up)]  # fine -> coarse, e.g. [64, 128]
    # No batch norm on the input layer (sec. 3).
    layers: list[nn.Module] = [nn.Conv2d(channels, widths[0], 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
    for c_in, c_out in zip(widths, widths[1:]):
        layers.append(nn.Conv2d(c_in, c_out, 4, 2, 1, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(c_out))
        layers.append(nn.LeakyReLU(0.2, inplace=True))
    layers.append(nn.Flatten())
    return nn.Sequential(*layers), widths[-1] * h0 * w0


class DCGANDiscriminator(nn.Module):
    """images (B, C, H, W) in [-1, 1] -> logits (B,): the convolutional body and a linear layer.

    ``batch_norm=False`` gives the critic WGAN-GP needs (its penalty is per sample).
    """

    def __init__(self, shape: tuple[int, int, int], width: int, *, batch_norm: bool = True) -> None:
        super().__init__()
        self.features, features = dcgan_features(shape, width, batch_norm=batch_norm)
        self.head = nn.Linear(features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(1)  # (B,)


class DCGAN(WarnsOnCollapse, GenerativeModel):
    """Unconditional DCGAN with the non-saturating GAN loss."""

    Config = DCGANConfig
    capabilities = frozenset({"sample"})

    @classmethod
    def network_evaluations(cls, config: DCGANConfig) -> int:
        return 1  # one generator pass per sample

    def __init__(self, config: DCGANConfig, info: DataInfo) -> None:
        super().__init__(config, info)
        self.generator = DCGANGenerator(config.z_dim, config.width, info.shape)
        self.discriminator = DCGANDiscriminator(info.shape, config.width)
        self.generator.apply(dcgan_init)
        self.discriminator.apply(dcgan_init)
        self.g_ema = EMA(self.generator) if config.ema else None

    @classmethod
    def default_config(cls, info: DataInfo) -> DCGANConfig:
        channels, height, width = info.shape
        if height * width <= 16 * 16:  # 8x8 digits: one upsampling from 4x4, so it can be wide
            return DCGANConfig(width=64)
        if channels == 1:  # 28x28 MNIST-like: minutes per quick run on CPU
            return DCGANConfig(width=32)
        return DCGANConfig(width=64)  # CIFAR-10: the paper's 64-128-256 discriminator

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        betas = (self.config.beta1, self.config.beta2)
        return {
            "d": torch.optim.Adam(self.discriminator.parameters(), lr=self.config.lr, betas=betas),
            "g": torch.optim.Adam(self.generator.parameters(), lr=self.config.lr, betas=betas),
        }

    def training_step(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        real = to_signed(batch.x)  # (B, C, H, W) in [-1, 1]
        b = real.shape[0]
        z = torch.randn(b, self.config.z_dim, device=real.device)
        with ctx.autocast():
            fake = self.generator(z)  # (B, C, H, W); one draw serves both players' steps
            # D maximises log D(x) + log(1 - D(G(z))); softplus(-l) = -log sigmoid(l).
            # Real and fake go through D as separate batches, so its batch norm sees pure batches.
            d_loss = F.softplus(-self.discriminator(real)).mean() + F.softplus(self.discriminator(fake.detach())).mean()
        ctx.optimize(d_loss, "d")
        with frozen(self.discriminator), ctx.autocast():
            # Non-saturating generator loss: maximise log D(G(z)) (Goodfellow et al. 2014, sec. 3).
            g_loss = F.softplus(-self.discriminator(fake)).mean()
        ctx.optimize(g_loss, "g")
        if self.g_ema is not None:
            self.g_ema.decay = ema_decay(b, (ctx.step + 1) * b, self.config.ema_half_life)
            self.g_ema.update(self.generator)
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(), "spread": spread_ratio(fake, real)}

    @torch.no_grad()
    def sample(
        self, n: int, *, labels: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        refuse_labels(labels, "dcgan")
        device = self.generator.project.weight.device
        z = gaussian((n, self.config.z_dim), generator, device)
        net = self.g_ema if self.g_ema is not None else self.generator
        return to_unit(net(z))  # (n, C, H, W) float32 in [0, 1]
