"""Invertible layers shared by RealNVP and Glow, and the small networks inside their couplings.

Every flow layer maps ``forward(x) -> (y, logdet)`` with ``logdet`` = log|det ∂y/∂x| per image,
shape (B,), and ``inverse(y) -> x``. Tensors are NCHW. :class:`Split` is the one exception: it
factors half the channels out to the prior (see its docstring).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

LOG_2PI = math.log(2 * math.pi)
# |log s| of a coupling is clamped here, in both directions, so one coupling scales by at most
# e^10 (= 22,000) either way: an inverse pass through a half-trained Glow otherwise meets
# s = sigmoid(h + 2) -> 0 and overflows to inf (seen on MNIST after 64 steps). Training never
# reaches it on our budgets; where it binds the gradient of log s stops, the map stays exact.
LOG_SCALE_BOUND = 10.0


def gaussian_log_prob(z: torch.Tensor, mean: torch.Tensor, logs: torch.Tensor) -> torch.Tensor:
    """log N(z; mean, exp(logs)²) summed over all but the batch dimension: (B,)."""
    return (-0.5 * (LOG_2PI + 2 * logs + (z - mean) ** 2 * torch.exp(-2 * logs))).flatten(1).sum(1)


def checkerboard_mask(height: int, width: int, parity: int, *, device: torch.device | None = None) -> torch.Tensor:
    """(1, 1, H, W) float mask, 1 where (i + j + parity) is even (Dinh et al. 2017, Fig. 3 left)."""
    i = torch.arange(height, device=device).view(-1, 1)
    j = torch.arange(width, device=device).view(1, -1)
    return ((i + j + parity) % 2 == 0).float().view(1, 1, height, width)


# -- normalisation and mixing ---------------------------------------------------------------


class ActNorm(nn.Module):
    """Per-channel affine y = (x + b) · exp(logs), initialised from the first training batch.

    Glow (Kingma & Dhariwal 2018, Sec. 3.1): b and logs are set so that the first batch has zero
    mean and unit variance per channel, then trained as ordinary parameters. The flag is a
    buffer, so a checkpoint carries whether the initialisation has happened.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.logs = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.register_buffer("initialized", torch.tensor(False))

    @torch.no_grad()
    def _initialize(self, x: torch.Tensor) -> None:
        mean = x.mean(dim=(0, 2, 3), keepdim=True)
        std = x.std(dim=(0, 2, 3), keepdim=True, unbiased=False)
        self.bias.copy_(-mean)
        # 1e-6 as Glow's code; a channel that never varies keeps a finite scale.
        self.logs.copy_(-torch.log(std + 1e-6))
        self.initialized.fill_(True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.training and not bool(self.initialized):
            self._initialize(x)
        y = (x + self.bias) * torch.exp(self.logs)
        logdet = self.logs.sum() * (x.shape[2] * x.shape[3])
        return y, logdet.expand(x.shape[0])

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y * torch.exp(-self.logs) - self.bias


class InvConv1x1(nn.Module):
    """Invertible 1x1 convolution in its LU-decomposed form (Glow, Sec. 3.2).

    W = P · L · (U + diag(sign · exp(log_s))) with P a fixed permutation, L unit lower
    triangular and U strictly upper triangular, so log|det W| = Σ log_s costs O(C) instead of
    O(C³). Initialised from a random rotation, as in the paper.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        w = torch.linalg.qr(torch.randn(channels, channels))[0]
        p, lower, upper = torch.linalg.lu(w)
        s = torch.diagonal(upper)
        self.register_buffer("perm", p)
        self.register_buffer("sign_s", torch.sign(s))
        self.register_buffer("lower_mask", torch.tril(torch.ones(channels, channels), -1))
        self.register_buffer("eye", torch.eye(channels))
        self.lower = nn.Parameter(lower)
        self.upper = nn.Parameter(torch.triu(upper, 1))
        self.log_s = nn.Parameter(torch.log(torch.abs(s)))

    def weight(self) -> torch.Tensor:
        """The (C, C) matrix W."""
        lower = self.lower * self.lower_mask + self.eye
        upper = self.upper * self.lower_mask.T + torch.diag(self.sign_s * torch.exp(self.log_s))
        return self.perm @ lower @ upper

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        w = self.weight()
        y = F.conv2d(x, w.view(*w.shape, 1, 1))
        logdet = self.log_s.sum() * (x.shape[2] * x.shape[3])
        return y, logdet.expand(x.shape[0])

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        w_inv = torch.linalg.inv(self.weight())
        return F.conv2d(y, w_inv.view(*w_inv.shape, 1, 1))


# -- reshaping ------------------------------------------------------------------------------


class Squeeze(nn.Module):
    """Space to depth: (B, C, H, W) -> (B, 4C, H/2, W/2), each 2x2 patch into channels. Volume-preserving."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, c, h, w = x.shape
        y = x.view(b, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4).reshape(b, 4 * c, h // 2, w // 2)
        return y, x.new_zeros(b)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        b, c, h, w = y.shape
        return y.view(b, c // 4, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3).reshape(b, c // 4, 2 * h, 2 * w)


class Split(nn.Module):
    """Factor out half the channels to the prior (RealNVP Sec. 3.6; Glow's "split").

    ``forward(x) -> (x1, z2, log p(z2 | x1))``: x1 (the first half) flows on, z2 is a latent.
    With ``learned_prior`` z2 ~ N(μ(x1), σ(x1)²) from a zero-initialised 3x3 convolution of x1
    (Glow's split2d prior); otherwise z2 ~ N(0, I) (RealNVP). ``inverse(x1, z2)`` draws z2 from
    the prior at ``temperature`` when z2 is None. With ``num_classes`` the prior's mean and
    log-std are also shifted per position by a zero-initialised linear map of the one-hot label
    (cglow), and ``labels`` pick the class; ``all_classes=True`` returns log p for every class, (K, B).
    """

    def __init__(
        self, channels: int, *, learned_prior: bool, num_classes: int = 0, size: tuple[int, int] = (0, 0)
    ) -> None:
        super().__init__()
        self.half = channels // 2
        self.prior = ZeroConv2d(self.half, 2 * (channels - self.half)) if learned_prior else None
        self.out_channels = channels - self.half
        self.class_prior: nn.Embedding | None = None
        if num_classes:  # ``size``: (H, W) of the latent, for the per-position shift
            self.class_prior = nn.Embedding(num_classes, 2 * self.out_channels * size[0] * size[1])
            nn.init.zeros_(self.class_prior.weight)

    def _class_shift(self, labels: torch.Tensor | None, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The class's shift of (mean, log-std), each (B or K, C2, H, W), or None."""
        if self.class_prior is None:
            return None
        h = self.class_prior.weight if labels is None else self.class_prior(labels)
        h = h.to(like.dtype).view(h.shape[0], 2 * self.out_channels, *like.shape[2:])
        return h[:, : self.out_channels], h[:, self.out_channels :]

    def prior_params(self, x1: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-std of z2 given x1 (and the label), each (B, C - C/2, H, W)."""
        if self.prior is None:
            shape = (x1.shape[0], self.half, *x1.shape[2:])  # channels are even wherever we split
            zeros = x1.new_zeros(shape)
            mean, logs = zeros, zeros
        else:
            mean, logs = self.prior(x1).chunk(2, dim=1)
        if labels is not None and self.class_prior is not None:
            shift = self._class_shift(labels, x1)
            assert shift is not None
            mean, logs = mean + shift[0], logs + shift[1]
        return mean, logs

    def forward(
        self, x: torch.Tensor, labels: torch.Tensor | None = None, *, all_classes: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x1, z2 = x[:, : self.half], x[:, self.half :]
        if all_classes and self.class_prior is not None:
            mean, logs = self.prior_params(x1)
            shift = self._class_shift(None, x1)
            assert shift is not None
            per_class = [gaussian_log_prob(z2, mean + m, logs + s) for m, s in zip(shift[0], shift[1])]
            return x1, z2, torch.stack(per_class)  # (K, B)
        mean, logs = self.prior_params(x1, labels)
        return x1, z2, gaussian_log_prob(z2, mean, logs)

    def inverse(
        self,
        x1: torch.Tensor,
        z2: torch.Tensor | None = None,
        *,
        temperature: float = 1.0,
        noise: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if z2 is None:
            mean, logs = self.prior_params(x1, labels)
            eps = torch.zeros_like(mean) if noise is None else noise
            z2 = mean + temperature * torch.exp(logs) * eps
        return torch.cat([x1, z2], dim=1)


# -- coupling -------------------------------------------------------------------------------


class AffineCoupling(nn.Module):
    """Affine coupling: the masked part passes through and sets scale and shift of the rest.

    y_a = x_a,  y_b = x_b · exp(log s(x_a)) + t(x_a)  (Dinh et al. 2017, eq. 7-9).

    ``mask``: "channel" splits the channels in halves (``parity`` picks which half is x_a);
    "checkerboard" keeps the pixels where (i + j + parity) is even. The scale is bounded:
    "tanh" is RealNVP's log s = scale · tanh(h) with a learned per-channel ``scale`` (their
    code); "sigmoid" is Glow's s = sigmoid(h + 2), which starts near 0.88 and never exceeds 1;
    "none" is the additive coupling y_b = x_b + t(x_a) (NICE; Glow's code's ``flow_coupling=0``,
    the coupling of its class-conditional runs): volume-preserving, log|det| = 0, and its inverse
    only subtracts, so a draw off the data cannot be blown up by a chain of divisions by s.
    ``min_scale`` > 0 floors Glow's scale: s = min_scale + (1 - min_scale) · sigmoid(h + 2), so
    the inverse divides by at least ``min_scale`` (cglow: see its config).
    ``cond_channels`` > 0 adds a conditioning feature map to the network's input (used by the
    variational dequantiser). The network's last layer is zero-initialised, so a new coupling
    is close to the identity (Glow Sec. 3.3).
    """

    def __init__(
        self,
        channels: int,
        net: nn.Module,
        *,
        mask: Literal["channel", "checkerboard"],
        parity: int = 0,
        scale: Literal["tanh", "sigmoid", "none"] = "sigmoid",
        min_scale: float = 0.0,
    ) -> None:
        super().__init__()
        self.min_scale = min_scale
        self.channels = channels
        self.mask = mask
        self.parity = parity
        self.scale_fn = scale
        self.net = net  # in: x_a (+ cond); out: shift, then raw scale (not for "none"), each channels of x_b
        if scale == "tanh":
            self.scale = nn.Parameter(torch.ones(1, channels, 1, 1))

    @staticmethod
    def net_channels(channels: int, mask: str, parity: int = 0, *, additive: bool = False) -> tuple[int, int]:
        """(input, output) channels of the coupling's network, without conditioning.

        ``additive``: the network gives the shift only (``scale="none"``)."""
        per = 1 if additive else 2
        if mask == "checkerboard":
            return channels, per * channels
        a = channels // 2 if parity == 0 else channels - channels // 2
        return a, per * (channels - a)

    def _log_scale(self, raw: torch.Tensor) -> torch.Tensor:
        if self.scale_fn == "tanh":
            scale = self.scale if raw.shape[1] == self.channels else self.scale[:, : raw.shape[1]]
            return scale * torch.tanh(raw)
        if self.min_scale > 0:
            return torch.log(self.min_scale + (1 - self.min_scale) * torch.sigmoid(raw + 2.0))
        return F.logsigmoid(raw + 2.0)

    def _parts(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.channels // 2 if self.parity == 0 else self.channels - self.channels // 2
        if self.parity == 0:
            return x[:, :a], x[:, a:]
        return x[:, self.channels - a :], x[:, : self.channels - a]

    def _join(self, xa: torch.Tensor, xb: torch.Tensor) -> torch.Tensor:
        return torch.cat([xa, xb], dim=1) if self.parity == 0 else torch.cat([xb, xa], dim=1)

    def _st(self, xa: torch.Tensor, cond: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.net(xa if cond is None else torch.cat([xa, cond], dim=1))
        if self.scale_fn == "none":
            return h, torch.zeros_like(h)
        shift, raw = h.chunk(2, dim=1)
        return shift, self._log_scale(raw).clamp(-LOG_SCALE_BOUND, LOG_SCALE_BOUND)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if self.mask == "checkerboard":
            b = checkerboard_mask(x.shape[2], x.shape[3], self.parity, device=x.device).to(x.dtype)
            shift, log_s = self._st(x * b, cond)
            shift, log_s = shift * (1 - b), log_s * (1 - b)  # only the unmasked pixels change
            y = x * b + (1 - b) * (x * torch.exp(log_s) + shift)
            return y, log_s.flatten(1).sum(1)
        xa, xb = self._parts(x)
        shift, log_s = self._st(xa, cond)
        yb = xb * torch.exp(log_s) + shift
        return self._join(xa, yb), log_s.flatten(1).sum(1)

    def inverse(self, y: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        if self.mask == "checkerboard":
            b = checkerboard_mask(y.shape[2], y.shape[3], self.parity, device=y.device).to(y.dtype)
            shift, log_s = self._st(y * b, cond)  # y * b == x * b: the masked pixels passed through
            return y * b + (1 - b) * (y - shift) * torch.exp(-log_s)
        ya, yb = self._parts(y)
        shift, log_s = self._st(ya, cond)
        return self._join(ya, (yb - shift) * torch.exp(-log_s))


# -- networks inside the couplings ------------------------------------------------------------


class ZeroConv2d(nn.Module):
    """3x3 convolution initialised to zero, output scaled by exp(3 · logs) (Glow's Conv2dZeros)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)
        self.logs = nn.Parameter(torch.zeros(1, out_channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) * torch.exp(self.logs * 3.0)


class GlowNet(nn.Module):
    """Glow's coupling network NN(): conv3x3 → actnorm → ReLU → conv1x1 → actnorm → ReLU → ZeroConv2d."""

    def __init__(self, in_channels: int, out_channels: int, hidden: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, hidden, 3, padding=1, bias=False)
        self.norm1 = ActNorm(hidden)
        self.conv2 = nn.Conv2d(hidden, hidden, 1, bias=False)
        self.norm2 = ActNorm(hidden)
        self.out = ZeroConv2d(hidden, out_channels)
        # Glow's code initialises these convolutions with N(0, 0.05²).
        nn.init.normal_(self.conv1.weight, std=0.05)
        nn.init.normal_(self.conv2.weight, std=0.05)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.norm1(self.conv1(x))[0])
        h = F.relu(self.norm2(self.conv2(h))[0])
        return self.out(h)


class ResNet(nn.Module):
    """RealNVP's s/t network: a 3x3 stem, ``blocks`` residual blocks, a zero-initialised 3x3 head.

    Dinh et al. use deep ResNets with batch and weight normalisation; this one has neither
    (a batch statistic would make one image's log P depend on the rest of its batch) and relies
    on the zero-initialised head and the bounded scale for stability.
    """

    def __init__(self, in_channels: int, out_channels: int, hidden: int, blocks: int) -> None:
        super().__init__()
        self.stem = nn.Conv2d(in_channels, hidden, 3, padding=1)
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.ReLU(), nn.Conv2d(hidden, hidden, 3, padding=1), nn.ReLU(), nn.Conv2d(hidden, hidden, 3, padding=1)
            )
            for _ in range(blocks)
        )
        self.head = ZeroConv2d(hidden, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        for block in self.blocks:
            h = h + block(h)
        return self.head(F.relu(h))
