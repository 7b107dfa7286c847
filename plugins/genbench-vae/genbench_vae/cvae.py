"""A class-conditional VAE (Sohn, Lee & Yan 2015, "Learning Structured Output Representation
using Deep Conditional Generative Models"): sample an image given its class label.

The decoder p(x|z, y) sees the one-hot label beside z; the prior stays N(0, I). The encoder
is q(z|x), without the label (Sohn et al. use q(z|x, y)): any q gives a valid bound on
log P(x|y), and ``encode`` features, which genbench feeds to classification probes, must not
contain the very label they are scored on. Everything else is the :class:`~genbench_vae.vae.VAE`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import torch
import torch.nn.functional as F

from genbench.api import normal_from_uniform, randint_tensor, uniform_per_item
from genbench.api.dataset import DataInfo
from genbench.api.model import eval_setting
from genbench_vae.likelihood import discretized_logistic_log_prob, discretized_logistic_mean
from genbench_vae.vae import VAE, VAEConfig

# The label proposal of the sampled marginal keeps this share of its mass spread evenly over the
# labels: every label stays drawable (the estimate stays unbiased), at a cost of about this
# fraction of the importance samples when one label explains the image.
LABEL_FLOOR = 0.1


@dataclass
class CVAEConfig(VAEConfig):
    """The VAE's settings and how the marginal over labels is estimated; the label's size comes from the dataset."""

    # log P(x) = log Σ_y P(y) P(x|y), estimated by importance sampling over (z, y) jointly:
    # "sampled" draws one label per importance sample from a proposal r(y|x) (the labels' posterior
    # under the decoder at E[z|x], LABEL_FLOOR of it uniform): iwae_k + C decodes an image.
    # "sum" decodes every label for every z (C * iwae_k decodes, the bound before issue 28's cut).
    marginal: Literal["sampled", "sum"] = eval_setting(
        "sampled", "log P(x) without labels: one label drawn per importance sample, or every label summed"
    )


class CVAE(VAE):
    """Class-conditional VAE.

    ``log_likelihood(x, y)`` is the IWAE bound on log P(x|y), the likelihood of the image
    *given its label*; ``log_likelihood(x)`` bounds log P(x) = log Σ_y P(y) P(x|y) with a uniform
    P(y), the quantity unconditional models report (and what genbench's ``nll`` metric scores).
    ``sample(n)`` without labels draws them uniformly from ``generator`` first, then z.
    """

    Config = CVAEConfig
    capabilities = frozenset({"sample", "conditional", "log_likelihood", "reconstruct", "encode"})
    # Each importance sample costs one decoder pass per label (log P(x) marginalises the 10 labels):
    # smoke runs use 4, not 64 (recorded as iwae_k=4 beside the values).
    smoke_settings = {"iwae_k": 4}

    @classmethod
    def default_config(cls, info: DataInfo) -> CVAEConfig:
        config = super().default_config(info)
        assert isinstance(config, CVAEConfig)
        _, height, width = info.shape
        if height * width <= 64:
            return config
        # 28 px and up: the KL weight rises linearly over the first 300 steps (Bowman et al. 2016).
        # Without it one MNIST epoch stayed on the plateau where the label explains the class mean
        # and z carries nothing (KL 0.07 nats at step 30; -ELBO 1,138 nats against the vae's 804,
        # all-black samples); with it, 897 nats and legible digits (vae README, "cvae on MNIST").
        # 8x8 digits train 313 steps in all and escaped the plateau without it.
        return replace(config, kl_warmup_steps=300)

    def _cond_dim(self, info: DataInfo) -> int:
        return info.num_classes

    def _condition(self, y: torch.Tensor | None) -> torch.Tensor:
        if y is None:
            raise ValueError("cvae models P(x|y): pass the labels y")
        return F.one_hot(y.long(), self.info.num_classes).to(torch.get_default_dtype())  # (B, num_classes)

    def _sample_condition(
        self, n: int, labels: torch.Tensor | None, generator: torch.Generator | None, device: torch.device
    ) -> torch.Tensor:
        if labels is None:
            labels = randint_tensor(self.info.num_classes, (n,), generator=generator, device=device)
        if labels.shape != (n,) or labels.dtype.is_floating_point:
            raise ValueError(f"labels must be {n} integers, got {labels.dtype} of shape {tuple(labels.shape)}")
        if n and (int(labels.min()) < 0 or int(labels.max()) >= self.info.num_classes):
            raise ValueError(f"labels must lie in [0, {self.info.num_classes - 1}]")
        return self._condition(labels.to(device))

    @torch.inference_mode()
    def log_likelihood(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """IWAE lower bound in nats of the 8-bit images ``x``, shape (B,): on log P(x|y) given
        labels ``y``, else on the marginal log P(x) (``marginal``); see :meth:`VAE.log_likelihood`."""
        if y is not None:
            return self._iwae_bound(x, self._condition(y))
        if self.config.marginal == "sum":
            return self._iwae_bound(x, None)
        return self._sampled_marginal(x)

    def _sampled_marginal(self, x: torch.Tensor) -> torch.Tensor:
        """The IWAE bound on log P(x) with proposal q(z|x) r(y|x): each importance sample draws z
        and one label, weighted p(z) P(y) p(x|z, y) / (q(z|x) r(y|x)), shape (B,)."""
        b, k = x.shape[0], self.config.iwae_k
        mean, logvar = self._posterior(x)  # (B, latent)
        d = mean.shape[1]
        # Each image's z draws then its label draws, in one call: an image's numbers are then the
        # same whatever batch it is scored in (two calls would interleave batches' draws).
        draws = uniform_per_item(b, (k * (d + 1),), device=x.device)  # float64
        eps = normal_from_uniform(draws[:, : k * d]).view(b, k, d).to(mean.dtype)  # (B, K, latent)
        u = draws[:, k * d :]  # (B, K)
        log_r = self.label_proposal(x, mean)  # (B, C)
        cdf = log_r.double().exp().cumsum(dim=1)
        labels = torch.searchsorted(cdf, u * cdf[:, -1:]).clamp(max=self.info.num_classes - 1)  # (B, K)
        log_ratio = -math.log(self.info.num_classes) - log_r.gather(1, labels)  # log P(y) - log r(y|x), (B, K)
        return self._iwae_bound_from_noise(x, self._condition(labels), mean, logvar, eps, log_ratio)

    def label_proposal(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log r(y|x), (B, C): the posterior over labels of p(x | z, y) at ``z`` (B, latent) under a
        uniform P(y), mixed with the uniform distribution (LABEL_FLOOR of the mass)."""
        classes, n = self.info.num_classes, len(x)
        labels = torch.arange(classes, device=x.device).repeat_interleave(n)  # (C*B,), class-major
        loc, log_scale = self._decode_many(z.repeat(classes, 1), self._condition(labels))
        score = discretized_logistic_log_prob(x.repeat(classes, 1, 1, 1), loc, log_scale).sum(dim=(1, 2, 3))
        posterior = score.view(classes, n).T.log_softmax(dim=1)  # (B, C)
        return torch.logaddexp(
            posterior + math.log1p(-LABEL_FLOOR), torch.full_like(posterior, math.log(LABEL_FLOOR / classes))
        )

    def _decodes_per_pair(self, cond: torch.Tensor | None) -> int:
        return 1 if cond is not None else self.info.num_classes

    def _log_px_given_z(self, x: torch.Tensor, z: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        if cond is not None:
            return super()._log_px_given_z(x, z, cond)
        # No label: p(x|z) = Σ_y P(y) p(x|z, y) with P(y) = 1/C. Since q(z|x) ignores y, each
        # importance weight then bounds the marginal log P(x) directly (C decoder passes per z),
        # all C classes of the N pairs in one batch of C*N, class-major.
        classes, n = self.info.num_classes, len(x)
        labels = torch.arange(classes, device=x.device).repeat_interleave(n)  # (C*N,)
        log_px = super()._log_px_given_z(x.repeat(classes, 1, 1, 1), z.repeat(classes, 1), self._condition(labels))
        return torch.logsumexp(log_px.view(classes, n), dim=0) - math.log(classes)  # (N,)

    @torch.no_grad()
    def infer_labels(self, x: torch.Tensor) -> torch.Tensor:
        """The label under which the decoder best explains x at the posterior mean of z, (B,)."""
        return self._best_label_decode(x, self.encode(x))[0]

    def _best_label_decode(
        self, x: torch.Tensor, z: torch.Tensor
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """The most likely label (B,) at z and the decoder's (loc, log_scale) under it, kept from
        the search so that a reconstruction need not decode again. Ties go to the lower label."""
        best: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        for c in range(self.info.num_classes):
            y = torch.full((x.shape[0],), c, dtype=torch.long, device=x.device)
            loc, log_scale = self._decode_many(z, self._condition(y))
            score = discretized_logistic_log_prob(x, loc, log_scale).sum(dim=(1, 2, 3))  # (B,)
            if best is None:
                best = (y, score, loc, log_scale)
                continue
            better = score > best[1]  # strictly: the first maximum wins, as argmax
            pick = better.view(-1, 1, 1, 1)
            best = (
                torch.where(better, y, best[0]),
                torch.where(better, score, best[1]),
                torch.where(pick, loc, best[2]),
                torch.where(pick, log_scale, best[3]),
            )
        assert best is not None
        return best[0], (best[2], best[3])

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """E[x|z, y] at the posterior mean of z: (B, C, H, W) in [0, 1].

        Without labels, y is the one the decoder finds most likely (:meth:`infer_labels`).
        """
        z = self.encode(x)
        if y is None:
            _, (loc, log_scale) = self._best_label_decode(x, z)
        else:
            loc, log_scale = self._decode_many(z, self._condition(y))
        return discretized_logistic_mean(loc, log_scale).clamp(0.0, 1.0)
