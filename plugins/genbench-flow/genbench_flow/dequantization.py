"""From 8-bit images to the continuous input of a flow, with every Jacobian counted.

genbench's convention (``genbench/metrics/nll.py``): a level k in {0..255} becomes
u = (k + v) / 256 in [0, 1)^D with v in [0, 1)^D, and

    log P(k) >= E_q(v|k)[ log p(u) - log q(v|k) ] - D · log 256,

where -D · log 256 is the Jacobian of u = (k + v) / 256 (each unit cell of k + v shrinks to
volume 256^-D). Uniform dequantisation has q = 1, so the log q term vanishes (Theis et al. 2016);
variational dequantisation learns q(v|k) with a conditional flow (Ho et al. 2019, Flow++,
arXiv:1902.00275, Sec. 3.1). One draw of v per image gives an unbiased estimate of the bound.

A flow's density on u is log p(u) = log p_flow(y) + log|dy/du| after the preprocessing y(u):
Glow centres (y = u - 0.5, Jacobian 1), RealNVP takes a logit (its Sec. 4.1).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from genbench.api import rand_tensor, randn_tensor
from genbench.metrics.nll import LEVELS, to_levels
from genbench_flow.layers import AffineCoupling, GlowNet, gaussian_log_prob


def preprocess(u: torch.Tensor, kind: Literal["center", "logit"], alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
    """y(u) and log|dy/du| summed per image, for u in [0, 1)^D.

    "center": y = u - 0.5 (Glow's code). "logit": y = logit(α + (1 - 2α) u) (Dinh et al. 2017,
    Sec. 4.1), which keeps y finite at u = 0; its log-derivative per dimension is
    log(1 - 2α) - log s - log(1 - s) with s = α + (1 - 2α) u.
    """
    if kind == "center":
        return u - 0.5, u.new_zeros(u.shape[0])
    s = alpha + (1 - 2 * alpha) * u
    y = torch.log(s) - torch.log1p(-s)
    logdet = (math.log(1 - 2 * alpha) - torch.log(s) - torch.log1p(-s)).flatten(1).sum(1)
    return y, logdet


def postprocess(y: torch.Tensor, kind: Literal["center", "logit"], alpha: float) -> torch.Tensor:
    """The inverse of :func:`preprocess`: u from y (not clamped)."""
    if kind == "center":
        return y + 0.5
    return (torch.sigmoid(y) - alpha) / (1 - 2 * alpha)


def to_image(u: torch.Tensor) -> torch.Tensor:
    """The 8-bit image k / 255 whose cell holds u: k = floor(256 u), clamped to 0..255."""
    return torch.floor(u * LEVELS).clamp(0, LEVELS - 1) / (LEVELS - 1)


class UniformDequantizer(nn.Module):
    """v ~ U[0, 1)^D: ``forward(x) -> (u, log q(v|k))`` with log q = 0."""

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        v = rand_tensor(tuple(x.shape), generator=generator, device=x.device, dtype=x.dtype)
        u = (to_levels(x).to(x.dtype) + v) / LEVELS
        return u, x.new_zeros(x.shape[0])


class VariationalDequantizer(nn.Module):
    """q(v|k): ε ~ N(0, I), a few checkerboard affine couplings conditioned on features of the
    image, then a sigmoid into (0, 1)  (Flow++, Sec. 3.1 and its Appendix: a conditional flow).

    log q(v|k) = log N(ε) - Σ log|det| of the couplings - Σ log σ'(h) of the sigmoid.
    """

    def __init__(self, channels: int, hidden: int, couplings: int = 4) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, hidden, 3, padding=1), nn.ReLU(), nn.Conv2d(hidden, hidden, 3, padding=1), nn.ReLU()
        )
        n_in, n_out = AffineCoupling.net_channels(channels, "checkerboard")
        self.couplings = nn.ModuleList(
            AffineCoupling(channels, GlowNet(n_in + hidden, n_out, hidden), mask="checkerboard", parity=i % 2)
            for i in range(couplings)
        )

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        k = to_levels(x).to(x.dtype)
        cond = self.features(k / (LEVELS - 1) - 0.5)  # (B, hidden, H, W)
        eps = randn_tensor(tuple(x.shape), generator=generator, device=x.device, dtype=x.dtype)
        zeros = torch.zeros_like(eps)
        log_q = gaussian_log_prob(eps, zeros, zeros)
        h = eps
        for coupling in self.couplings:
            h, logdet = coupling(h, cond)
            log_q = log_q - logdet
        v = torch.sigmoid(h)
        # d sigmoid(h)/dh = sigmoid(h) · sigmoid(-h); in log space to stay finite for large |h|.
        log_q = log_q - (F.logsigmoid(h) + F.logsigmoid(-h)).flatten(1).sum(1)
        # Keep u strictly inside the cell: sigmoid rounds to exactly 1.0 in float32 for h > 17.
        v = v.clamp(0.0, 1.0 - 1e-6)
        return (k + v) / LEVELS, log_q
