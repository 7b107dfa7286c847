"""A class-conditional VAE (Sohn, Lee & Yan 2015, "Learning Structured Output Representation
using Deep Conditional Generative Models"): sample an image given its class label.

The decoder p(x|z, y) sees the one-hot label beside z; the prior stays N(0, I). The encoder
is q(z|x), without the label (Sohn et al. use q(z|x, y)): any q gives a valid bound on
log P(x|y), and ``encode`` features, which genbench feeds to classification probes, must not
contain the very label they are scored on. Everything else is the :class:`~genbench_vae.vae.VAE`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from genbench.api import randint_tensor
from genbench.api.dataset import DataInfo
from genbench.api.model import eval_setting
from genbench_vae.likelihood import discretized_logistic_log_prob, discretized_logistic_mean
from genbench_vae.vae import VAE, VAEConfig


@dataclass
class CVAEConfig(VAEConfig):
    """The VAE's settings, and how many labels the marginal sums; the label's size comes from the dataset."""

    # log P(x) = log sum_y P(y) P(x|y) sums, per image, the labels under which the decoder explains
    # it best at the posterior mean of z. The labels left out would only add to P(x), so it stays a
    # lower bound and can only drop, and in practice it does not: a trained decoder explains a digit
    # under a wrong label tens of nats worse (README: the measured change). 3 of MNIST's 10 cost
    # 3 * iwae_k + 10 decodes an image instead of 10 * iwae_k; >= the number of classes sums them all.
    marginal_labels: int = eval_setting(
        3, "labels per image the marginal log P(x) sums: the most likely at E[z|x] (all classes: the exact sum)", ge=1
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
        labels ``y``, else on the marginal log P(x) over the ``marginal_labels`` most likely
        labels of each image; see :meth:`VAE.log_likelihood`."""
        if y is not None:
            return self._iwae_bound(x, self._condition(y))
        return self._iwae_bound(x, self._likely_labels(x))

    def _likely_labels(self, x: torch.Tensor) -> torch.Tensor:
        """(B, m) integer labels the marginal sums for each image: all C in order when
        ``marginal_labels`` >= C, else the m under which the decoder explains x best at E[z|x]."""
        classes, n = self.info.num_classes, len(x)
        if self.config.marginal_labels >= classes:
            return torch.arange(classes, device=x.device).expand(n, classes)
        z = self.encode(x)  # (B, latent)
        labels = torch.arange(classes, device=x.device).repeat_interleave(n)  # (C*B,), class-major
        score = super()._log_px_given_z(x.repeat(classes, 1, 1, 1), z.repeat(classes, 1), self._condition(labels))
        return score.view(classes, n).T.topk(self.config.marginal_labels, dim=1).indices  # (B, m)

    # ``cond`` is either a (N, C) float one-hot (log P(x|y) given the label) or, for the marginal,
    # the (N, m) integer labels :meth:`_likely_labels` chose for each pair's image.
    def _decodes_per_pair(self, cond: torch.Tensor | None) -> int:
        return 1 if cond is None or cond.is_floating_point() else cond.shape[1]

    def _log_px_given_z(self, x: torch.Tensor, z: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        if cond is None or cond.is_floating_point():
            return super()._log_px_given_z(x, z, cond)
        # The marginal: p(x|z) = Σ_y P(y) p(x|z, y) with P(y) = 1/C, summed over the chosen labels.
        # Since q(z|x) ignores y, each importance weight then bounds log P(x) directly; the m labels
        # of the N pairs are decoded in one batch of m*N, label-slot-major.
        m, n = cond.shape[1], len(x)
        labels = cond.T.reshape(-1)  # (m*N,)
        log_px = super()._log_px_given_z(x.repeat(m, 1, 1, 1), z.repeat(m, 1), self._condition(labels))
        return torch.logsumexp(log_px.view(m, n), dim=0) - math.log(self.info.num_classes)  # (N,)

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
