"""The discretised logistic: a proper probability mass over the 256 levels of an 8-bit pixel.

Each sub-pixel (one channel of one pixel) gets a logistic distribution with location ``loc``
and scale ``exp(log_scale)`` on the [0, 1] intensity axis. Level k (the value k / 255) receives
the logistic's mass on the bin [k/255 - 0.5/255, k/255 + 0.5/255]; the edge levels 0 and 255
take the open tails (-inf, 0.5/255] and [254.5/255, inf), so the 256 probabilities sum to one
exactly and log P(x) <= 0. This is the likelihood of PixelCNN++ (Salimans et al. 2017,
arXiv:1701.05517, eq. 2), used by Kingma et al. 2016 (IAF, arXiv:1606.04934) for VAEs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LEVELS = 256
HALF_BIN = 0.5 / (LEVELS - 1)  # half the width of one level's bin on the [0, 1] axis


def discretized_logistic_log_prob(x: torch.Tensor, loc: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """log P(x) in nats for every sub-pixel; ``x`` holds k / 255 values, all tensors broadcast.

    With a = (x + h - loc) / s and b = (x - h - loc) / s the bin's mass is sigmoid(a) - sigmoid(b),
    computed as sigmoid(a) * sigmoid(-b) * (1 - exp(-(a - b))), an exact identity whose three
    factors stay accurate in float32 even far in the tails (no case split, unlike PixelCNN++'s
    mid-bin density fallback, so the masses still sum to one there).
    """
    k = torch.round(x * (LEVELS - 1))  # the level index, 0..255
    # Edges from the index, (k +- 0.5) / 255: level k's upper edge is then the very same float as
    # level k+1's lower edge, so the masses telescope to one even in float32.
    inv_s = torch.exp(-log_scale)
    a = ((k + 0.5) / (LEVELS - 1) - loc) * inv_s  # upper bin edge, standardised
    b = ((k - 0.5) / (LEVELS - 1) - loc) * inv_s  # lower bin edge, standardised
    bottom = k == 0  # level 0 owns (-inf, upper edge]: b = -inf
    top = k == LEVELS - 1  # level 255 owns [lower edge, inf): a = +inf
    log_sig_a = torch.where(top, torch.zeros_like(a), -F.softplus(-a))  # log sigmoid(a)
    log_sig_neg_b = torch.where(bottom, torch.zeros_like(b), -F.softplus(b))  # log sigmoid(-b)
    # a - b = 2h / s > 0 for every level; log(1 - exp(-d)) via expm1 keeps precision when d is small.
    log_width = torch.log(-torch.expm1(-2.0 * HALF_BIN * inv_s))
    log_width = torch.where(bottom | top, torch.zeros_like(log_width), log_width)
    return log_sig_a + log_sig_neg_b + log_width


def discretized_logistic_mean(loc: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """E[x] of the discretised logistic, on the [0, 1] axis; same shape as ``loc``.

    For a variable on levels 0..255, E[k] = sum_{j=1..255} P(k >= j), and P(k >= j) is the
    logistic's mass above the edge (j - 0.5) / 255. One pass per edge keeps memory at the
    size of ``loc`` (a (255, ...) stack would be 255 times larger for a CIFAR batch).
    """
    inv_s = torch.exp(-log_scale)
    total = torch.zeros_like(loc)
    for j in range(1, LEVELS):
        edge = (j - 0.5) / (LEVELS - 1)
        total += torch.sigmoid((loc - edge) * inv_s)
    return total / (LEVELS - 1)


def discretized_logistic_median(loc: torch.Tensor) -> torch.Tensor:
    """The median level of the discretised logistic, as k / 255; same shape as ``loc``.

    The continuous logistic's median is ``loc``, and a level's probability is the logistic's
    mass on its bin (the edge levels own the tails), so the discretised CDF crosses 1/2 in the
    bin that holds ``loc``: the level nearest ``loc``, clamped to 0..255. The scale plays no part.
    """
    return torch.round(loc * (LEVELS - 1)).clamp(0, LEVELS - 1) / (LEVELS - 1)


def discretized_logistic_mode(loc: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """The most probable level of the discretised logistic, as k / 255; same shape as ``loc``.

    Interior bins all have width 1/255 and the logistic is unimodal, so the best interior level
    is the one nearest ``loc`` (clamped to 1..254); the edge levels 0 and 255 own whole tails and
    can beat it when the scale is wide. The mode is whichever of these three is most probable.
    """
    interior = torch.round(loc * (LEVELS - 1)).clamp(1, LEVELS - 2)
    candidates = torch.stack([torch.zeros_like(loc), interior, torch.full_like(loc, LEVELS - 1)])  # (3, ...)
    log_p = discretized_logistic_log_prob(candidates / (LEVELS - 1), loc, log_scale)  # (3, ...)
    best = log_p.argmax(dim=0, keepdim=True)
    return candidates.gather(0, best).squeeze(0) / (LEVELS - 1)


def discretized_logistic_draw(loc: torch.Tensor, log_scale: torch.Tensor, uniform: torch.Tensor) -> torch.Tensor:
    """A draw from the discretised logistic, as k / 255, given ``uniform`` noise on (0, 1) of ``loc``'s shape.

    Inverse CDF of the logistic, loc + s (log u - log(1 - u)), then the level whose bin holds it
    (values beyond the edge bins fall in the tails owned by levels 0 and 255).
    """
    u = uniform.clamp(1e-6, 1 - 1e-6)
    x = loc + torch.exp(log_scale) * (torch.log(u) - torch.log1p(-u))
    return torch.round(x * (LEVELS - 1)).clamp(0, LEVELS - 1) / (LEVELS - 1)
