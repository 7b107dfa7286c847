"""The DDPM U-Net of Ho et al. (2020), Appendix B: it only predicts the noise ε in x_t.

PixelCNN++-style residual blocks with a timestep embedding added inside each block,
self-attention at chosen (low) resolutions and in the middle, group normalisation, and a
class-label embedding (with one extra "null" label) for classifier-free guidance.
Schedules and samplers live in :mod:`genbench_diffusion.schedule` and
:mod:`genbench_diffusion.samplers`; nothing here knows about them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn


def group_norm(channels: int) -> nn.GroupNorm:
    """32 groups as in Ho et al. when there are enough channels; fewer for the tiny CPU models."""
    groups = max(1, min(32, channels // 4))
    while channels % groups:
        groups -= 1
    return nn.GroupNorm(groups, channels)


def zero_init(module: nn.Module) -> nn.Module:
    """Zero the last layer of a residual branch so each block starts as the identity (Ho et al., App. B)."""
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Transformer sinusoidal embedding of integer timesteps: (B,) -> (B, dim) (Vaswani et al. 2017)."""
    half = dim // 2
    # The default float dtype: float32, or float64 when a test asks for machine-independent values.
    dtype = torch.get_default_dtype()
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=dtype) / (half - 1))
    args = t.to(dtype)[:, None] * freqs[None]  # (B, half)
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, with the (optional) embedding added between the convolutions."""

    def __init__(self, c_in: int, c_out: int, *, emb_dim: int | None = None, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm1 = group_norm(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out) if emb_dim else None
        self.norm2 = group_norm(c_out)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = zero_init(nn.Conv2d(c_out, c_out, 3, padding=1))
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None = None) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))  # (B, c_out, H, W)
        if self.emb is not None and emb is not None:
            h = h + self.emb(F.silu(emb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class AttnBlock(nn.Module):
    """Single-head self-attention over the H*W positions, as a residual branch."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = group_norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = zero_init(nn.Conv2d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        # One head as (B, 1, HW, C): the fused kernels (flash, memory-efficient) take 4-D inputs only;
        # with 3-D ones a GPU falls back to the math kernel, which materialises the HW x HW scores.
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, 1, c, h * w).transpose(3, 4).unbind(1)  # 3 x (B, 1, HW, C)
        out = F.scaled_dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(C)) v: (B, 1, HW, C)
        return x + self.proj(out.transpose(2, 3).reshape(b, c, h, w))


class Downsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)  # H -> ceil(H / 2): 28 -> 14 -> 7 -> 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        # Nearest-neighbour to the skip connection's size, so odd sizes (7 -> 4 -> 7) round-trip.
        return self.conv(F.interpolate(x, size=tuple(size), mode="nearest"))


class Level(nn.Module):
    """The blocks of one resolution on one path of the U-Net, and its resampling layer."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList()
        self.attns = nn.ModuleList()
        self.resample: nn.Module | None = None


class UNet(nn.Module):
    """ε_θ(x_t, t, y): (B, C, H, W), (B,) int, (B,) int or None -> (B, C, H, W).

    ``ch_mult[i]`` scales the channels of resolution level i (level 0 is the input size);
    ``attn_levels`` lists the levels that get self-attention after each residual block
    (Ho et al.'s CIFAR-10 model: ch=128, ch_mult=(1, 2, 2, 2), attention at level 1 = 16x16).
    With ``num_classes > 0`` a label embedding is added to the timestep embedding; label
    ``num_classes`` is the null token of classifier-free guidance (Ho & Salimans 2022).
    """

    def __init__(
        self,
        *,
        in_channels: int,
        ch: int,
        ch_mult: Sequence[int],
        num_res_blocks: int,
        attn_levels: Sequence[int],
        dropout: float = 0.0,
        num_classes: int = 0,
    ) -> None:
        super().__init__()
        self.ch = ch
        self.num_classes = num_classes
        emb_dim = 4 * ch
        self.time_emb = nn.Sequential(nn.Linear(ch, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.label_emb = nn.Embedding(num_classes + 1, emb_dim) if num_classes else None
        self.conv_in = nn.Conv2d(in_channels, ch, 3, padding=1)

        def attn(c: int, level: int) -> nn.Module:
            return AttnBlock(c) if level in attn_levels else nn.Identity()

        # Down path; ``skips`` records the channels of every tensor handed to the up path.
        skips, c = [ch], ch
        self.down = nn.ModuleList()
        for level, mult in enumerate(ch_mult):
            stage = Level()
            for _ in range(num_res_blocks):
                stage.blocks.append(ResBlock(c, ch * mult, emb_dim=emb_dim, dropout=dropout))
                c = ch * mult
                stage.attns.append(attn(c, level))
                skips.append(c)
            if level < len(ch_mult) - 1:
                stage.resample = Downsample(c)
                skips.append(c)
            self.down.append(stage)

        self.mid1 = ResBlock(c, c, emb_dim=emb_dim, dropout=dropout)
        self.mid_attn = AttnBlock(c)
        self.mid2 = ResBlock(c, c, emb_dim=emb_dim, dropout=dropout)

        # Up path: one more block per level than the down path, each eating one skip.
        self.up = nn.ModuleList()
        for level, mult in reversed(list(enumerate(ch_mult))):
            stage = Level()
            for _ in range(num_res_blocks + 1):
                stage.blocks.append(ResBlock(c + skips.pop(), ch * mult, emb_dim=emb_dim, dropout=dropout))
                c = ch * mult
                stage.attns.append(attn(c, level))
            if level > 0:
                stage.resample = Upsample(c)
            self.up.append(stage)

        self.norm_out = group_norm(c)
        self.conv_out = zero_init(nn.Conv2d(c, in_channels, 3, padding=1))

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.time_emb(timestep_embedding(t, self.ch))  # (B, 4ch)
        if self.label_emb is not None:
            if y is None:
                y = torch.full_like(t, self.num_classes)  # the null label: unconditional
            emb = emb + self.label_emb(y)

        h = self.conv_in(x)
        hs = [h]
        for stage in self.down:
            for block, attn in zip(stage.blocks, stage.attns):
                h = attn(block(h, emb))
                hs.append(h)
            if stage.resample is not None:
                h = stage.resample(h)
                hs.append(h)

        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)

        for stage in self.up:
            for block, attn in zip(stage.blocks, stage.attns):
                h = attn(block(torch.cat([h, hs.pop()], dim=1), emb))
            if stage.resample is not None:
                h = stage.resample(h, hs[-1].shape[-2:])
        return self.conv_out(F.silu(self.norm_out(h)))


EpsFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def guided_eps(net: UNet, labels: torch.Tensor | None, guidance: float, chunk: int | None = None) -> EpsFn:
    """The ε-prediction a sampler calls, with classifier-free guidance (Ho & Salimans 2022).

    ``guidance`` is the scale s in ε̃ = ε(x, ∅) + s · (ε(x, y) − ε(x, ∅)): s = 1 is the plain
    conditional model (one network call), s = 0 the unconditional one, s > 1 guides harder.
    It equals 1 + w in Ho & Salimans' notation. Without labels the null label is used.

    ``chunk``: the network sees at most that many images per call (the same values up to float
    rounding; memory and speed only). On one CPU thread at 28x28, calls on 500 images took
    1.25-1.6x the CPU time per image of calls on 64, whose activations stay in the cache.
    """

    def eps_of(x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if y is None or guidance == 0.0:
            return net(x, t, None)
        if guidance == 1.0:
            return net(x, t, y)
        # One batched call for both branches: (2B, C, H, W).
        null = torch.full_like(y, net.num_classes)
        cond, uncond = net(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, null])).chunk(2)
        return uncond + guidance * (cond - uncond)

    def eps(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if chunk is None or x.shape[0] <= chunk:
            return eps_of(x, t, labels)
        parts = [
            eps_of(x[i : i + chunk], t[i : i + chunk], None if labels is None else labels[i : i + chunk])
            for i in range(0, x.shape[0], chunk)
        ]
        return torch.cat(parts)

    return eps
