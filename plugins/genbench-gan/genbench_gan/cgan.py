"""Class-conditional GAN: conditional generator, projection discriminator.

The class label goes into both networks (Mirza & Osindero 2014). The generator takes it
concatenated to z and through class-conditional batch norm; the discriminator through a
projection, logit = psi(phi(x)) + <embed(y), phi(x)> (Miyato & Koyama 2018, eq. 3), trained
with the hinge loss of that paper. Both networks are DCGAN-sized. Miyato & Koyama also
spectrally normalise D; in our one-epoch MNIST trials that D gave samples that ignored their
labels (11-18% conditional accuracy, against 91% with batch norm), so D keeps DCGAN's batch norm.
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
    spread_ratio,
    to_signed,
    to_unit,
    uniform_labels,
)
from genbench_gan.dcgan import dcgan_features


@dataclass
class CGANConfig:
    z_dim: int = setting(128, ge=1, le=4096)  # latent size
    width: int = setting(64, ge=1, le=1024)  # channels at the finest hidden resolution; doubled at each coarser one
    lr: float = setting(2e-4, gt=0, le=1)  # DCGAN's Adam settings, as the networks are DCGAN's
    beta1: float = setting(0.5, ge=0, lt=1)
    beta2: float = setting(0.999, ge=0, lt=1)
    ema: bool = False  # True samples an EMA copy of the generator
    # images; half-life of the EMA weights (ramped up early in training)
    ema_half_life: int = setting(10_000, ge=1, le=10**9)


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm whose gain and bias are looked up per class (de Vries et al. 2017), as in
    Miyato & Koyama's generator."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.gain = nn.Embedding(num_classes, channels)
        self.bias = nn.Embedding(num_classes, channels)
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # x: (B, C, H, W), y: (B,) int64
        return self.norm(x) * self.gain(y)[:, :, None, None] + self.bias(y)[:, :, None, None]


class ConditionalGenerator(nn.Module):
    """(z (B, z_dim), y (B,)) -> images (B, C, H, W) in [-1, 1]: DCGAN's generator with the
    label concatenated to z and class-conditional batch norm after each hidden layer."""

    def __init__(self, z_dim: int, width: int, shape: tuple[int, int, int], num_classes: int) -> None:
        super().__init__()
        channels, height, wide = shape
        h0, w0, n_up = plan_resolution(height, wide)
        widths = [width * 2**i for i in reversed(range(n_up))]  # coarse -> fine
        self.base = (widths[0], h0, w0)
        self.num_classes = num_classes
        # The one-hot label is concatenated to z (Mirza & Osindero 2014). Its weights start as
        # small as z's, so the label's pull grows with training instead of swamping z: a
        # dense embedding there collapsed each class to one image in our digits runs.
        self.project = nn.Linear(z_dim + num_classes, widths[0] * h0 * w0, bias=False)
        self.norms = nn.ModuleList(ConditionalBatchNorm2d(c, num_classes) for c in widths)
        self.ups = nn.ModuleList(
            nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False) for c_in, c_out in zip(widths, widths[1:])
        )
        self.to_image = nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        zy = torch.cat([z, F.one_hot(y, self.num_classes).to(z.dtype)], 1)  # (B, z_dim + classes)
        h = F.relu(self.norms[0](self.project(zy).view(-1, *self.base), y))  # (B, C0, h0, w0)
        for up, norm in zip(self.ups, self.norms[1:]):
            h = F.relu(norm(up(h), y))  # doubles H and W
        return torch.tanh(self.to_image(h))  # (B, C, H, W)


class ProjectionDiscriminator(nn.Module):
    """(images (B, C, H, W), y (B,)) -> logits (B,): DCGAN's discriminator body with a
    projection head."""

    def __init__(self, shape: tuple[int, int, int], width: int, num_classes: int) -> None:
        super().__init__()
        self.features, features = dcgan_features(shape, width)
        self.psi = nn.Linear(features, 1)  # the unconditional term
        self.embed = nn.Embedding(num_classes, features)  # the class projection

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        phi = self.features(x)  # (B, F)
        # Projection: log p(y|x) / q(y|x) enters as an inner product (Miyato & Koyama 2018, eq. 3).
        return self.psi(phi).squeeze(1) + (self.embed(y) * phi).sum(1)  # (B,)


class CGAN(WarnsOnCollapse, GenerativeModel):
    """Class-conditional GAN with a projection discriminator and the hinge loss."""

    Config = CGANConfig
    capabilities = frozenset({"sample", "conditional"})

    @classmethod
    def network_evaluations(cls, config: CGANConfig) -> int:
        return 1  # one generator pass per sample

    def __init__(self, config: CGANConfig, info: DataInfo) -> None:
        super().__init__(config, info)
        self.generator = ConditionalGenerator(config.z_dim, config.width, info.shape, info.num_classes)
        self.discriminator = ProjectionDiscriminator(info.shape, config.width, info.num_classes)
        self.generator.apply(dcgan_init)
        self.discriminator.apply(dcgan_init)
        nn.init.normal_(self.discriminator.embed.weight, 0.0, 0.02)  # as small as the other D weights
        self.g_ema = EMA(self.generator) if config.ema else None

    @classmethod
    def default_config(cls, info: DataInfo) -> CGANConfig:
        channels, height, width = info.shape
        if height * width <= 16 * 16:  # 8x8 digits: one upsampling from 4x4, so it can be wide
            return CGANConfig(width=64)
        if channels == 1:  # 28x28 MNIST-like: minutes per quick run on CPU
            return CGANConfig(width=32)
        return CGANConfig(width=64)  # CIFAR-10

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        betas = (self.config.beta1, self.config.beta2)
        return {
            "d": torch.optim.Adam(self.discriminator.parameters(), lr=self.config.lr, betas=betas),
            "g": torch.optim.Adam(self.generator.parameters(), lr=self.config.lr, betas=betas),
        }

    def training_step(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        real = to_signed(batch.x)  # (B, C, H, W) in [-1, 1]
        y = batch.y  # (B,): fakes are drawn for the batch's labels, so both follow p(y)
        b = real.shape[0]
        z = torch.randn(b, self.config.z_dim, device=real.device)
        with ctx.autocast():
            fake = self.generator(z, y)  # (B, C, H, W)
            d_loss = (
                F.relu(1.0 - self.discriminator(real, y)).mean()
                + F.relu(1.0 + self.discriminator(fake.detach(), y)).mean()
            )
        ctx.optimize(d_loss, "d")
        with frozen(self.discriminator), ctx.autocast():
            g_loss = -self.discriminator(fake, y).mean()
        ctx.optimize(g_loss, "g")
        if self.g_ema is not None:
            self.g_ema.decay = ema_decay(b, (ctx.step + 1) * b, self.config.ema_half_life)
            self.g_ema.update(self.generator)
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(), "spread": spread_ratio(fake, real)}

    @torch.no_grad()
    def sample(
        self, n: int, *, labels: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """(n, C, H, W) in [0, 1] for ``labels`` (n,), or for uniformly drawn labels when None."""
        device = self.generator.project.weight.device
        num_classes = self.info.num_classes
        if labels is None:
            labels = uniform_labels(n, num_classes, generator, device)
        labels = labels.to(device=device, dtype=torch.long)
        if labels.shape != (n,) or labels.min() < 0 or labels.max() >= num_classes:
            raise ValueError(f"labels must be ({n},) class indices in [0, {num_classes}), got {tuple(labels.shape)}")
        z = gaussian((n, self.config.z_dim), generator, device)
        net = self.g_ema if self.g_ema is not None else self.generator
        return to_unit(net(z, labels))  # (n, C, H, W) float32 in [0, 1]
