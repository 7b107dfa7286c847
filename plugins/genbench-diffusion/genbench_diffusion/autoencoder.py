"""The first stage of latent diffusion: a KL-regularised convolutional autoencoder.

A scaled-down version of Rombach et al. (2022)'s "KL-f4" autoencoder (Sec. 3.1, App. G):
the encoder maps an image to a diagonal Gaussian q(z | x) with ``z_channels`` channels and
f = 2^(len(ch_mult) − 1) times fewer rows and columns; the decoder maps z back to pixels.
Here it is trained with an L1 reconstruction loss and a small KL weight only: the perceptual
(LPIPS) and patch-GAN losses of the paper need pretrained networks this offline benchmark
cannot download.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from genbench_diffusion.unet import Downsample, ResBlock, Upsample, group_norm


class KLAutoencoder(nn.Module):
    """x (B, C, H, W) in [-1, 1]  <->  z (B, z_channels, H / f, W / f)."""

    def __init__(
        self, *, in_channels: int, image_size: tuple[int, int], ch: int, ch_mult: Sequence[int], z_channels: int
    ) -> None:
        super().__init__()
        # Spatial size at every level, so the decoder can undo odd sizes (28 -> 14 -> 7 -> 14 -> 28).
        self.sizes = [tuple(image_size)]
        for _ in ch_mult[1:]:
            h, w = self.sizes[-1]
            self.sizes.append(((h + 1) // 2, (w + 1) // 2))
        levels = len(ch_mult)

        enc: list[nn.Module] = [nn.Conv2d(in_channels, ch, 3, padding=1)]
        c = ch
        for level, mult in enumerate(ch_mult):
            enc.append(ResBlock(c, ch * mult))
            c = ch * mult
            if level < levels - 1:
                enc.append(Downsample(c))
        enc += [ResBlock(c, c), group_norm(c), nn.SiLU(), nn.Conv2d(c, 2 * z_channels, 3, padding=1)]
        self.encoder = nn.Sequential(*enc)

        self.dec_in = nn.Conv2d(z_channels, c, 3, padding=1)
        self.dec_mid = ResBlock(c, c)
        self.dec_blocks = nn.ModuleList()
        self.dec_up = nn.ModuleList()
        for level, mult in reversed(list(enumerate(ch_mult))):
            self.dec_blocks.append(ResBlock(c, ch * mult))
            c = ch * mult
            self.dec_up.append(Upsample(c) if level > 0 else nn.Identity())
        self.dec_out = nn.Sequential(group_norm(c), nn.SiLU(), nn.Conv2d(c, in_channels, 3, padding=1))

    @property
    def latent_size(self) -> tuple[int, int]:
        return self.sizes[-1]

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z | x), each (B, z_channels, H / f, W / f)."""
        mean, logvar = self.encoder(x).chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)  # as in Rombach et al.'s DiagonalGaussianDistribution

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        h = self.dec_mid(self.dec_in(z))
        sizes = list(reversed(self.sizes[:-1]))  # targets of the upsampling layers, smallest first
        for block, up in zip(self.dec_blocks, self.dec_up):
            h = block(h)
            h = up(h, sizes.pop(0)) if isinstance(up, Upsample) else up(h)
        return self.dec_out(h)

    def loss(self, x: torch.Tensor, kl_weight: float) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        """(loss, its parts, the sampled z) for a batch: L1 reconstruction + kl_weight · KL(q(z|x) ‖ N(0, I)),
        both summed over dimensions and averaged over the batch, as in Rombach et al.'s first-stage loss."""
        mean, logvar = self.encode(x)
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        rec = F.l1_loss(self.decode(z).float(), x, reduction="none").flatten(1).sum(1).mean()
        kl = 0.5 * (mean.float() ** 2 + logvar.float().exp() - 1 - logvar.float()).flatten(1).sum(1).mean()
        return rec + kl_weight * kl, {"rec_loss": rec.detach(), "kl": kl.detach()}, z
