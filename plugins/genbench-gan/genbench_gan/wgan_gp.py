"""WGAN-GP: Wasserstein GAN with gradient penalty (Gulrajani et al. 2017, Algorithm 1).

The critic estimates the Wasserstein-1 distance between data and samples; instead of clipping
its weights (Arjovsky et al. 2017), a penalty keeps its gradient norm near 1 on lines between
real and generated images. The networks are DCGAN's, with no batch norm in the critic
(sec. 4: batch norm couples the samples the per-sample penalty treats independently).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
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
    refuse_labels,
    spread_ratio,
    to_signed,
    to_unit,
)
from genbench_gan.dcgan import DCGANDiscriminator, DCGANGenerator


@dataclass
class WGANGPConfig:
    z_dim: int = setting(128, ge=1, le=4096)  # the paper's latent size
    width: int = setting(64, ge=1, le=1024)  # channels at the finest hidden resolution; doubled at each coarser one
    # Algorithm 1 uses alpha = 1e-4 over 200k generator steps; a quick run gives 313 (digits) or
    # 938 (MNIST). At 1e-4 a quick digits run reached clf-fd 200, at 3e-4 60 (README, wgan-gp).
    lr: float = setting(3e-4, gt=0, le=1)
    beta1: float = setting(0.0, ge=0, lt=1)  # Algorithm 1: beta1 = 0, beta2 = 0.9
    beta2: float = setting(0.9, ge=0, lt=1)
    n_critic: int = setting(5, ge=1, le=100)  # critic updates per generator update
    gp_weight: float = setting(10.0, ge=0, le=1e6)  # lambda of eq. 3
    # True: every batch gets n_critic critic updates (fresh z each) and one generator update, so
    # the generator steps once per batch as DCGAN's does. False: Algorithm 1 to the letter, one
    # real batch per critic update, so an image budget buys 1/n_critic as many generator updates
    # (63 in a quick digits run: noise; see the README).
    reuse_real: bool = True
    ema: bool = False  # the paper samples the raw generator; True samples an EMA copy instead
    # images; half-life of the EMA weights (ramped up early in training)
    ema_half_life: int = setting(10_000, ge=1, le=10**9)


def critic_init(module: nn.Module) -> None:
    """He initialisation of the critic's layers, as the paper's code does (``he_init``).

    DCGAN's N(0, 0.02) leaves an unnormalised critic with an input gradient of norm about 0.03,
    so the penalty spent the first half of a quick run growing it to 1 while the generator
    learnt nothing; He's scaling starts the critic near unit gradient norm.
    """
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        nn.init.kaiming_normal_(module.weight, a=0.2, nonlinearity="leaky_relu")
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    eps: torch.Tensor | None = None,
) -> torch.Tensor:
    """E[(||grad D(x_hat)||_2 - 1)^2] with x_hat = eps * real + (1 - eps) * fake (eq. 3).

    ``eps`` (B, 1, 1, 1) is drawn from U[0, 1] when not given. Returns a scalar that keeps
    its graph, so the critic's loss can be differentiated through it.
    """
    if eps is None:
        eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)  # (B, C, H, W)
    return (grad.flatten(1).norm(2, dim=1) - 1.0).pow(2).mean()


class WGANGP(WarnsOnCollapse, GenerativeModel):
    """Unconditional WGAN-GP. With ``reuse_real`` (the default) each step makes ``n_critic``
    critic updates on its batch and one generator update; without it the critic steps every
    time and the generator when ``ctx.step % n_critic == 0``."""

    Config = WGANGPConfig
    capabilities = frozenset({"sample"})

    @classmethod
    def network_evaluations(cls, config: WGANGPConfig) -> int:
        return 1  # one generator pass per sample

    def __init__(self, config: WGANGPConfig, info: DataInfo) -> None:
        super().__init__(config, info)
        self.generator = DCGANGenerator(config.z_dim, config.width, info.shape)
        self.discriminator = DCGANDiscriminator(info.shape, config.width, batch_norm=False)  # the critic
        self.generator.apply(dcgan_init)
        self.discriminator.apply(critic_init)
        self.g_ema = EMA(self.generator) if config.ema else None

    @classmethod
    def default_config(cls, info: DataInfo) -> WGANGPConfig:
        channels, height, width = info.shape
        if height * width <= 16 * 16:  # 8x8 digits: one upsampling from 4x4, so it can be wide
            return WGANGPConfig(width=64)
        if channels == 1:  # 28x28 MNIST-like: minutes per quick run on CPU
            return WGANGPConfig(width=32)
        return WGANGPConfig(width=64)  # CIFAR-10

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        betas = (self.config.beta1, self.config.beta2)
        return {
            "d": torch.optim.Adam(self.discriminator.parameters(), lr=self.config.lr, betas=betas),
            "g": torch.optim.Adam(self.generator.parameters(), lr=self.config.lr, betas=betas),
        }

    def generator_updates(self, step: int) -> int:
        if self.config.reuse_real:
            return step
        return -(-step // self.config.n_critic)  # steps 0, n_critic, 2 n_critic, ... update G

    def critic_step(self, real: torch.Tensor, ctx: StepContext) -> dict[str, torch.Tensor]:
        """One critic update on ``real`` against a fresh batch of samples (Algorithm 1, lines 3-9)."""
        with torch.no_grad():
            fake = self.generator(torch.randn(real.shape[0], self.config.z_dim, device=real.device))
        with ctx.autocast():
            score_real = self.discriminator(real).mean()
            score_fake = self.discriminator(fake).mean()
            gp = gradient_penalty(self.discriminator, real, fake)
            d_loss = score_fake - score_real + self.config.gp_weight * gp  # eq. 3
        ctx.optimize(d_loss, "d")
        return {
            "d_loss": d_loss,
            "score_fake": score_fake,
            "gp": gp,
            "w_distance": score_real - score_fake,
            "fake": fake,
        }

    def training_step(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        cfg = self.config
        real = to_signed(batch.x)  # (B, C, H, W) in [-1, 1]
        b = real.shape[0]
        for _ in range(cfg.n_critic if cfg.reuse_real else 1):
            critic = self.critic_step(real, ctx)
        if cfg.reuse_real or ctx.step % cfg.n_critic == 0:
            with frozen(self.discriminator), ctx.autocast():
                # A fresh batch of z for the generator step (Algorithm 1, line 11).
                g_loss = -self.discriminator(self.generator(torch.randn(b, cfg.z_dim, device=real.device))).mean()
            ctx.optimize(g_loss, "g")
        else:
            # The generator rests; its loss at the current critic is still logged every step.
            g_loss = -critic["score_fake"]
        if self.g_ema is not None:
            self.g_ema.decay = ema_decay(b, (ctx.step + 1) * b, cfg.ema_half_life)
            self.g_ema.update(self.generator)
        return {
            "d_loss": critic["d_loss"].detach(),
            "g_loss": g_loss.detach(),
            "gp": critic["gp"].detach(),
            "w_distance": critic["w_distance"].detach(),  # the critic's estimate of W1
            "spread": spread_ratio(critic["fake"], real),
        }

    @torch.no_grad()
    def sample(
        self, n: int, *, labels: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        refuse_labels(labels, "wgan-gp")
        device = self.generator.project.weight.device
        z = gaussian((n, self.config.z_dim), generator, device)
        net = self.g_ema if self.g_ema is not None else self.generator
        return to_unit(net(z))  # (n, C, H, W) float32 in [0, 1]
