"""M1+M2, the stacked semi-supervised model of Kingma et al. 2014 (arXiv:1406.5298).

M1 is a VAE on pixels (MLP encoder, Bernoulli decoder of dynamically binarised pixels, z1 of 50
dimensions; its KL weight rises from 0 to 1 over its stage, which the paper does not do), trained on every
training image first, for ``m1_fraction`` of the run's steps. M2 (:mod:`genbench_vae.ssl_nets`)
then models M1's latent code with a Gaussian p(z1 | y, z2), labelled pairs from the benchmark's
subset only. M2 reads the mean of M1's frozen q(z1 | x), standardised per dimension, where the
paper draws z1 from q: at short budgets M1's posterior stays close to its prior, draws then bury
the code in noise, and the means vary by a few hundredths (on the 8x8 digits, 1,000 steps:
chance accuracy with draws, 0.62 with raw means; 800 steps with standardised means: 0.90). ``classify`` applies M2's
classifier to the mean of q(z1 | x). The paper reports 96.67% MNIST test accuracy with 100 labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from genbench.api.dataset import DataInfo
from genbench.api.model import Batch, GenerativeModel, StepContext
from genbench.config import setting
from genbench_vae.ssl_nets import M2, LabelledSet, bernoulli_nll, gaussian_kl, gaussian_nll, mlp


@dataclass
class M1M2Config:
    m1_hidden: int = setting(600, ge=1, le=8192, help="units of M1's two hidden layers (the paper: 600)")
    m1_latent: int = setting(50, ge=1, le=4096, help="size of M1's z1 (the paper: 50)")
    # bernoulli: the paper's, for near-binary images (MNIST); gaussian (learnt per-pixel variance):
    # grey-level images such as the 8x8 digits, whose Bernoulli entropy floor leaves z1 nothing to carry
    m1_likelihood: Literal["bernoulli", "gaussian"] = "bernoulli"
    hidden: int = setting(500, ge=1, le=8192, help="units of M2's hidden layers (the paper: 500)")
    latent_dim: int = setting(50, ge=1, le=4096, help="size of M2's z2")
    lr: float = setting(3e-4, gt=0, le=1, help="Adam learning rate of both stages")
    m1_fraction: float = setting(0.4, ge=0, le=1, help="share of the run's steps that train M1 alone")
    m1_steps: int = setting(2000, ge=0, le=10**9, help="M1's steps when the run's length is unknown")
    alpha_per_dim: float = setting(1.0, ge=0, le=1e6, help="weight of the labelled cross-entropy per z1 dimension")
    # mean: M2 trains on the mean of q(z1 | x); sample: on a draw from q(z1 | x), as the paper,
    # standardised with the means' statistics (classify reads the mean either way)
    m2_input: Literal["mean", "sample"] = "mean"


class M1M2Model(GenerativeModel):
    Config = M1M2Config
    capabilities = frozenset({"classify"})
    uses_labelled_subset = True

    def __init__(self, config: M1M2Config, info: DataInfo) -> None:
        super().__init__(config, info)
        dim = int(torch.tensor(info.shape).prod())
        self.m1_encoder = mlp([dim, config.m1_hidden, config.m1_hidden, 2 * config.m1_latent])
        out = dim if config.m1_likelihood == "bernoulli" else 2 * dim
        self.m1_decoder = mlp([config.m1_latent, config.m1_hidden, config.m1_hidden, out])
        # M1's code standardised per dimension (batch statistics in training, running ones after):
        # a code whose posterior stays near the prior varies by a few hundredths, too little for
        # M2's classifier to read at its learning rate.
        self.z1_norm = nn.BatchNorm1d(config.m1_latent, affine=False)
        self.m2 = M2(config.m1_latent, info.num_classes, config.hidden, config.latent_dim, "gaussian")
        self.alpha = config.alpha_per_dim * config.m1_latent
        self.labelled: LabelledSet | None = None

    def set_labelled(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.labelled = LabelledSet(x, y)

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        # One optimizer: each stage's loss reaches only its own networks' gradients, and Adam
        # leaves a parameter without a gradient untouched.
        return {"m1m2": torch.optim.Adam(self.parameters(), lr=self.config.lr)}

    def m1_length(self, ctx: StepContext) -> int:
        """The steps that train M1 alone; M2 trains on M1's frozen code after them."""
        return round(self.config.m1_fraction * ctx.total_steps) if ctx.total_steps else self.config.m1_steps

    def _z1(self, x: torch.Tensor) -> torch.Tensor:
        """The mean of M1's q(z1 | x), (B, m1_latent)."""
        mu: torch.Tensor = self.m1_encoder(x.flatten(1)).chunk(2, dim=1)[0]
        return mu

    def _m2_input(self, x: torch.Tensor) -> torch.Tensor:
        """M2's training input: M1's standardised code, its mean or (``m2_input=sample``) a draw
        from q(z1 | x) scaled by the same per-dimension statistics as the mean."""
        mu, logvar = self.m1_encoder(x.flatten(1)).chunk(2, dim=1)
        z = self.z1_norm(mu)  # updates the running statistics classify uses
        if self.config.m2_input == "sample":
            scale = (mu.var(0, unbiased=False) + self.z1_norm.eps).rsqrt()
            z = z + (0.5 * logvar.clamp(-8.0, 8.0)).exp() * torch.randn_like(mu) * scale
        return z

    def training_step(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        if self.labelled is None:
            raise RuntimeError("m1m2 trains on the benchmark's labelled subset: the engine calls set_labelled first")
        x = batch.x.flatten(1)
        m1_steps = self.m1_length(ctx)
        if ctx.step < m1_steps:
            # The KL weight rises over M1's whole stage: at full weight from the start, the code
            # collapses onto the prior before the decoder learns to read it (short runs, small images).
            beta = (ctx.step + 1) / m1_steps
            with ctx.autocast():
                mu, logvar = self.m1_encoder(x).chunk(2, dim=1)
                logvar = logvar.clamp(-8.0, 8.0)
                z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
                out = self.m1_decoder(z)
                if self.config.m1_likelihood == "bernoulli":  # dynamically binarised, as the paper's MNIST
                    nll = bernoulli_nll(out, torch.bernoulli(x)).mean()
                else:
                    nll = gaussian_nll(out, x).mean()
                kl = gaussian_kl(mu, logvar).mean()
            ctx.optimize((nll + beta * kl).float(), "m1m2")
            return {"m1": (nll + kl).detach().float(), "m1_kl": kl.detach().float()}
        x_l, y_l = self.labelled.batch(ctx.step, len(batch.x), batch.x.device)
        with torch.no_grad():  # M1 stays as its stage trained it
            z_u, z_l = self._m2_input(x), self._m2_input(x_l)
        with ctx.autocast():
            parts = self.m2.loss(z_u, z_l, y_l, self.alpha)
        ctx.optimize(parts["loss"].float(), "m1m2")
        return {k: v.detach().float() for k, v in parts.items()}

    @torch.no_grad()
    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """M2's q(y | z1) logits at the mean of M1's q(z1 | x), (B, num_classes)."""
        out: torch.Tensor = self.m2.classifier(self.z1_norm(self._z1(x.float())))
        return out
