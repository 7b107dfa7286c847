"""M1+M2, the stacked semi-supervised model of Kingma et al. 2014 (arXiv:1406.5298).

M1 is a VAE on pixels (MLP encoder, Bernoulli decoder of dynamically binarised pixels, z1 of 50
dimensions), trained on every training image first, for ``m1_fraction`` of the run's steps, with
its own Adam (``m1_lr``). M2 (:mod:`genbench_vae.ssl_nets`) then models M1's frozen code with a
Gaussian p(z1 | y, z2), labelled pairs from the benchmark's subset only, as the paper's code does:

- z1's inactive dimensions are dropped (zero in M2's inputs, left out of its likelihood): those
  whose posterior mean varies across images by a standard deviation under ``active_std`` (the
  paper's 0.1), measured when M2's stage starts. A VAE leaves most of its 50
  dimensions at the prior (about 10 stay active on MNIST after 20 epochs); a draw from one of
  them is pure noise, and M2 would spend its capacity modelling it.
- M2 trains on a fresh draw from q(z1 | x) each step (``m2_input=sample``; ``mean`` reads the
  mean); ``classify`` applies M2's classifier to the mean.
- M2's MLPs have one hidden layer (``m2_layers``) of 500 units.
- The objective is the paper's J^α = Σ_labelled L + Σ_unlabelled U + α·N·E_labelled[−log q(y | x)]
  divided by the unlabelled count: per step, the batch mean of U, plus ``labelled_weight`` (the
  paper's N_l / N_u: 100 / 60,000 for 100 MNIST labels) times the mean of L, plus α (0.1) times
  the mean cross-entropy. The classifier is thus shaped mostly by U, the labels naming the
  clusters U finds.
- M2's Adam runs at 1e-3 (the paper: 3e-4), which reaches the same accuracy in fewer epochs.

The paper reports 96.67% MNIST test accuracy with 100 labels (M1 trained for thousands of epochs,
M2 for up to 3,000). The 8x8 digits need ``m1_likelihood=gaussian``: their grey levels give the
Bernoulli decoder an entropy floor that leaves z1 nothing to carry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from genbench.api.dataset import DataInfo, ImageData
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
    m1_lr: float = setting(1e-3, gt=0, le=1, help="Adam learning rate of M1")
    m1_warmup: float = setting(0.0, ge=0, le=1, help="share of M1's stage over which its KL weight rises to 1")
    m1_fraction: float = setting(0.6, ge=0, le=1, help="share of the run's steps that train M1 alone")
    m1_steps: int = setting(2000, ge=0, le=10**9, help="M1's steps when the run's length is unknown")
    active_std: float = setting(0.1, ge=0, le=1e3, help="z1 dimensions whose mean varies less are dropped")
    hidden: int = setting(500, ge=1, le=8192, help="units of M2's hidden layers (the paper: 500)")
    m2_layers: int = setting(1, ge=1, le=8, help="hidden layers of each of M2's MLPs (the paper: 1)")
    latent_dim: int = setting(50, ge=1, le=4096, help="size of M2's z2")
    lr: float = setting(1e-3, gt=0, le=1, help="Adam learning rate of M2 (the paper: 3e-4)")
    alpha: float = setting(0.1, ge=0, le=1e6, help="the paper's α: weight of the labelled cross-entropy")
    labelled_weight: float = setting(0.002, ge=0, le=1e6, help="weight of the labelled bound (paper: N_l/N_u)")
    # sample: M2 trains on a draw from q(z1 | x), as the paper; mean: on its mean (classify reads the mean)
    m2_input: Literal["mean", "sample"] = "sample"
    # Not the paper's: z1 shifted and scaled per dimension so that its means have mean 0 and
    # standard deviation 1 (statistics fixed when M2's stage starts). A no-op for a well-trained
    # M1, whose active dimensions already are; an M1 trained briefly on small images (the 8x8
    # digits) leaves means varying by a few tenths, too little for M2 to read at its learning rate.
    standardise: bool = False


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
        self.m2 = M2(config.m1_latent, info.num_classes, config.hidden, config.latent_dim, "gaussian", config.m2_layers)
        # 1 for the z1 dimensions M2 reads, 0 for the dropped ones: zero in M2's inputs and left
        # out of its likelihood, as if absent; fixed when M2's stage starts, saved with the model.
        self.register_buffer("active", torch.ones(config.m1_latent))
        self.register_buffer("shift", torch.zeros(config.m1_latent))  # standardise=True: the means' mean
        self.register_buffer("scale", torch.ones(config.m1_latent))  # and standard deviation
        self.register_buffer("m2_started", torch.zeros((), dtype=torch.bool))
        self.labelled: LabelledSet | None = None
        # q(z1 | x) of the labelled images, computed once M1 is frozen (not state: recomputed on resume)
        self._labelled_code: tuple[torch.Tensor, torch.Tensor] | None = None

    def set_labelled(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.labelled = LabelledSet(x, y)
        self._labelled_code = None

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        # One optimizer, a learning rate per stage: each stage's loss reaches only its own
        # networks' gradients, and Adam leaves a parameter without a gradient untouched.
        m1 = [*self.m1_encoder.parameters(), *self.m1_decoder.parameters()]
        groups = [{"params": m1, "lr": self.config.m1_lr}, {"params": list(self.m2.parameters())}]
        return {"m1m2": torch.optim.Adam(groups, lr=self.config.lr)}

    def m1_length(self, ctx: StepContext) -> int:
        """The steps that train M1 alone; M2 trains on M1's frozen code after them."""
        return round(self.config.m1_fraction * ctx.total_steps) if ctx.total_steps else self.config.m1_steps

    def _code(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """M1's q(z1 | x): its mean and log-variance, (B, m1_latent) each."""
        mu, logvar = self.m1_encoder(x.flatten(1)).chunk(2, dim=1)
        return mu, logvar.clamp(-8.0, 8.0)

    def _z1(self, x: torch.Tensor) -> torch.Tensor:
        """The mean of M1's q(z1 | x) on the active dimensions (the rest zero), (B, m1_latent)."""
        return (self._code(x)[0] - self.shift) / self.scale * self.active

    def _m2_input(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """M2's training input: a draw from q(z1 | x) (``m2_input=sample``) or its mean, on the
        active dimensions (standardised when ``standardise``)."""
        z = mu + (0.5 * logvar).exp() * torch.randn_like(mu) if self.config.m2_input == "sample" else mu
        return (z - self.shift) / self.scale * self.active

    def _train_m1(self, x: torch.Tensor, step: int, m1_steps: int, ctx: StepContext) -> dict[str, torch.Tensor]:
        ramp = self.config.m1_warmup * m1_steps
        beta = min(1.0, (step + 1) / ramp) if ramp >= 1 else 1.0
        with ctx.autocast():
            mu, logvar = self._code(x)
            z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
            out = self.m1_decoder(z)
            if self.config.m1_likelihood == "bernoulli":  # dynamically binarised, as the paper's MNIST
                nll = bernoulli_nll(out, torch.bernoulli(x)).mean()
            else:
                nll = gaussian_nll(out, x).mean()
            kl = gaussian_kl(mu, logvar).mean()
        ctx.optimize((nll + beta * kl).float(), "m1m2")
        return {"m1": (nll + kl).detach().float(), "m1_kl": kl.detach().float()}

    @torch.no_grad()
    def _start_m2(self, mu_u: torch.Tensor, labelled: LabelledSet) -> None:
        """Once M1 is frozen: its code of the labelled images, and (first time) the active dimensions."""
        self._labelled_code = self._code(ImageData.to_float(labelled.x).to(mu_u.device))
        if not bool(self.m2_started):
            means = torch.cat([mu_u, self._labelled_code[0]])
            std = means.std(0)
            self.active.copy_((std > self.config.active_std).float())
            if self.config.standardise:  # inactive dimensions keep scale 1 (they are zeroed anyway)
                self.shift.copy_(means.mean(0) * self.active)
                self.scale.copy_(torch.where(self.active > 0, std, torch.ones_like(std)))
            self.m2_started.fill_(True)
        self.m2.observed.copy_(self.active)  # not saved with the model: set again on resume

    def training_step(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        if self.labelled is None:
            raise RuntimeError("m1m2 trains on the benchmark's labelled subset: the engine calls set_labelled first")
        x = batch.x.flatten(1)
        m1_steps = self.m1_length(ctx)
        if ctx.step < m1_steps:
            return self._train_m1(x, ctx.step, m1_steps, ctx)
        with torch.no_grad():  # M1 stays as its stage trained it
            mu_u, logvar_u = self._code(x)
            if self._labelled_code is None:
                self._start_m2(mu_u, self.labelled)
            assert self._labelled_code is not None
            idx = self.labelled.indices(ctx.step, len(x)).to(x.device)
            z_u = self._m2_input(mu_u, logvar_u)
            z_l = self._m2_input(self._labelled_code[0][idx], self._labelled_code[1][idx])
        y_l = self.labelled.y[idx.cpu()].to(x.device)
        with ctx.autocast():
            parts = self.m2.loss(z_u, z_l, y_l, self.config.alpha, self.config.labelled_weight)
        ctx.optimize(parts["loss"].float(), "m1m2")
        return {k: v.detach().float() for k, v in parts.items()}

    @torch.no_grad()
    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """M2's q(y | z1) logits at the mean of M1's q(z1 | x), (B, num_classes)."""
        out: torch.Tensor = self.m2.classifier(self._z1(x.float()))
        return out
