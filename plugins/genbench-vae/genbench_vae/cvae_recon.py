"""A conditional VAE for learned image reconstruction (Zhang, Barbano & Jin 2021, "Conditional
Variational Autoencoder for Learned Image Reconstruction", arXiv:2110.11681).

Given a measurement y of an image x, three networks define the model:

- the conditional prior p(z | y) = N(μ_p(y), σ_p(y)²), a conv encoder of y's condition;
- the encoder q(z | x, y) = N(μ_q(x, y), σ_q(x, y)²), a conv encoder of x beside y's condition;
- the decoder p(x | z, y) = N(μ(z, y), σ(z, y)²) per pixel, the shared restoring backbone
  (:class:`~genbench_vae.restore_nets.RestoreNet`) with z shifting every block.

Training maximises the conditional ELBO
  E_q[log p(x | z, y)] − KL(q(z | x, y) ‖ p(z | y)),
on fresh measurements of every training batch (the benchmark's operator). The posterior over
x given y is sampled as the paper does: z ~ p(z | y), then x from the decoder; its mean over K
samples is the point estimate and the per-pixel spread the uncertainty. ``pixel_noise`` adds
the decoder's own per-pixel Gaussian draw to each sample (default), so that the spread holds
both the latent's uncertainty and the pixel noise the decoder was fitted with; off, each sample
is the decoder's mean μ(z, y).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from genbench.api import randn_tensor
from genbench.api.dataset import DataInfo
from genbench.api.model import Batch, GenerativeModel, StepContext, eval_setting
from genbench.api.restoration import Degradation, Measurements
from genbench.config import setting
from genbench_vae.nets import Encoder
from genbench_vae.restore_nets import RestoreNet

LOG_STD_MIN, LOG_STD_MAX = -5.0, 1.0  # per-pixel std in [0.007, 2.7] on the [0, 1] scale


@dataclass
class CVAEReconConfig:
    latent_dim: int = setting(16, ge=1, le=4096, help="size of z")
    hidden: int = setting(32, ge=1, le=1024, help="channels of the backbone and the encoders")
    blocks: int = setting(4, ge=1, le=64, help="residual blocks of the decoder backbone")
    lr: float = setting(1e-3, gt=0, le=1, help="Adam learning rate")
    kl_warmup_steps: int = setting(500, ge=0, le=10**9, help="steps over which the KL weight rises from 0 to 1")
    pixel_noise: bool = eval_setting(True, "add the decoder's per-pixel Gaussian draw to each posterior sample")


class CVAERecon(GenerativeModel):
    Config = CVAEReconConfig
    capabilities = frozenset({"restore"})
    uses_degradation = True

    def __init__(self, config: CVAEReconConfig, info: DataInfo) -> None:
        super().__init__(config, info)
        c, h, w = info.shape
        self.prior = Encoder((c + 1, h, w), config.hidden, config.latent_dim)  # p(z | y)
        self.posterior = Encoder((2 * c + 1, h, w), config.hidden, config.latent_dim)  # q(z | x, y)
        self.decoder = RestoreNet(c + 1, 2 * c, config.hidden, config.blocks, z_dim=config.latent_dim)
        self.op: Degradation | None = None

    def set_degradation(self, op: Degradation) -> None:
        self.op = op

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"cvae": torch.optim.Adam(self.parameters(), lr=self.config.lr)}

    def _decode(self, z: torch.Tensor, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-pixel mean in [0, 1] and log standard deviation, each (B, C, H, W)."""
        mean, log_std = self.decoder(cond, z).chunk(2, dim=1)
        return torch.sigmoid(mean), log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)

    def elbo_terms(self, x: torch.Tensor, m: Measurements) -> tuple[torch.Tensor, torch.Tensor]:
        """Per image: the reconstruction term −log p(x | z, y) at one z ~ q, and KL(q ‖ p), nats, (B,) each."""
        cond = m.condition()
        mu_q, logvar_q = self.posterior(torch.cat([x, cond], dim=1))
        mu_p, logvar_p = self.prior(cond)
        z = mu_q + (0.5 * logvar_q).exp() * torch.randn_like(mu_q)
        mean, log_std = self._decode(z, cond)
        nll = (0.5 * ((x - mean) / log_std.exp()) ** 2 + log_std + 0.5 * math.log(2 * math.pi)).flatten(1).sum(1)
        kl = 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p) ** 2) / logvar_p.exp() - 1.0).sum(1)
        return nll, kl

    def training_step(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        if self.op is None:
            raise RuntimeError("cvae-recon learns to undo a degradation: the engine calls set_degradation first")
        m = self.op.measure(batch.x)  # fresh noise and masks for every batch
        warm = self.config.kl_warmup_steps
        beta = min(1.0, (ctx.step + 1) / warm) if warm else 1.0
        with ctx.autocast():
            nll, kl = self.elbo_terms(batch.x, m)
            nll, kl = nll.float().mean(), kl.float().mean()
            loss = nll + beta * kl
        ctx.optimize(loss, "cvae")
        dims = batch.x[0].numel()
        # the negative ELBO per dimension (at the full KL weight), the quantity that falls
        return {"loss": ((nll + kl) / dims).detach(), "nll": (nll / dims).detach(), "kl": kl.detach()}

    @torch.no_grad()
    def restore(self, m: Measurements, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """K posterior samples per measurement, z ~ p(z | y): (N, K, C, H, W) in [0, 1]."""
        cond = m.condition()
        n = len(cond)
        mu_p, logvar_p = self.prior(cond)
        eps = randn_tensor((n, k, mu_p.shape[1]), generator=generator, device=cond.device)
        z = (mu_p.unsqueeze(1) + (0.5 * logvar_p).exp().unsqueeze(1) * eps).flatten(0, 1)  # (N*K, latent)
        mean, log_std = self._decode(z, cond.repeat_interleave(k, 0))
        x = mean
        if self.config.pixel_noise:
            noise = randn_tensor(tuple(mean.shape), generator=generator, device=cond.device)
            x = mean + log_std.exp() * noise
        return x.clamp(0.0, 1.0).float().unflatten(0, (n, k))
