"""A small StyleGAN2: style-based generator scaled down to 8, 28 and 32 pixel images.

Karras et al. 2019 (StyleGAN, arXiv:1812.04948): a mapping network z -> w, a learned constant
input, styles that modulate every layer, per-layer noise inputs and style mixing.
Karras et al. 2020 (StyleGAN2, arXiv:1912.04958): weight modulation/demodulation instead of
AdaIN (eq. 1-3), skip-connection generator, residual discriminator, lazy R1 regularisation.
Both train with the non-saturating loss and sample from an EMA copy of the generator.

Scaled down (see the README): 2-4 mapping layers instead of 8, tens to hundreds of channels
instead of 512, bilinear resampling instead of FIR-filtered transposed convolutions, no path
length regularisation, no progressive growing, 4x4 or 7x7 base grids, and a tanh on the output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genbench.api import EMA
from genbench.api.dataset import DataInfo
from genbench.api.model import Batch, GenerativeModel, StepContext, eval_setting
from genbench.config import setting
from genbench_gan.common import (
    WarnsOnCollapse,
    ema_decay,
    frozen,
    gaussian,
    plan_resolution,
    refuse_labels,
    spread_ratio,
    to_signed,
    to_unit,
)

SQRT2 = math.sqrt(2.0)


@dataclass
class StyleGANConfig:
    z_dim: int = setting(128, ge=1, le=4096)
    w_dim: int = setting(128, ge=1, le=4096)
    mapping_layers: int = setting(4, ge=1, le=64)  # StyleGAN uses 8; a few suffice for 10-class small images
    mapping_lr_mul: float = setting(0.01, gt=0, le=1)  # the mapping network learns 100x slower (StyleGAN, App. C)
    width: int = setting(128, ge=1, le=4096)  # channels at the base grid; halved at each finer resolution...
    min_width: int = setting(32, ge=1, le=4096)  # ...down to this floor
    # samples per minibatch-stddev group in D (StyleGAN2: 4; ADA's CIFAR setup: 32)
    mbstd_group: int = setting(4, ge=1, le=1024)
    mixing_prob: float = setting(0.9, ge=0, le=1)  # style mixing regularisation (StyleGAN sec. 3.1; 0.9 in StyleGAN2)
    r1_gamma: float = setting(1.0, ge=0, le=1e6)  # R1 weight gamma (Mescheder et al. 2018); 0 turns R1 off
    # lazy regularisation interval in steps (StyleGAN2 sec. 3.1); 1 = every step
    r1_every: int = setting(16, ge=1, le=10**6)
    lr: float = setting(0.002, gt=0, le=1)  # StyleGAN2's Adam settings
    beta1: float = setting(0.0, ge=0, lt=1)
    beta2: float = setting(0.99, ge=0, lt=1)
    ema_half_life: int = setting(10_000, ge=1, le=10**9)  # images; StyleGAN2's 10 kimg, ramped up early in training
    truncation: float = eval_setting(
        1.0, "truncation psi: w = w_avg + psi * (w - w_avg); 1 = no truncation", ge=0, le=2
    )


# -- equalised learning rate layers (Karras et al. 2018, sec. 4.1) -------------------------


class EqualLinear(nn.Module):
    """Linear layer whose N(0, 1) weights are scaled by 1 / sqrt(fan_in) at run time, so that
    Adam's per-parameter steps are equal across layers (equalised learning rate)."""

    def __init__(
        self, c_in: int, c_out: int, *, bias_init: float = 0.0, lr_mul: float = 1.0, activate: bool = False
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in) / lr_mul)
        self.bias = nn.Parameter(torch.full((c_out,), float(bias_init) / lr_mul))
        self.scale = lr_mul / math.sqrt(c_in)
        self.lr_mul = lr_mul
        self.activate = activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)
        return F.leaky_relu(x, 0.2) * SQRT2 if self.activate else x  # sqrt(2): keeps the variance


class EqualConv2d(nn.Module):
    """Convolution with equalised learning rate; ``activate`` adds LeakyReLU(0.2) * sqrt(2)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, *, bias: bool = True, activate: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(c_out)) if bias else None
        self.scale = 1.0 / math.sqrt(c_in * kernel * kernel)
        self.activate = activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(x, self.weight * self.scale, self.bias, padding=self.weight.shape[-1] // 2)
        return F.leaky_relu(x, 0.2) * SQRT2 if self.activate else x


# -- generator -----------------------------------------------------------------------------


class MappingNetwork(nn.Module):
    """z (B, z_dim) -> w (B, w_dim); tracks the mean w for the truncation trick."""

    def __init__(self, z_dim: int, w_dim: int, layers: int, lr_mul: float) -> None:
        super().__init__()
        dims = [z_dim] + [w_dim] * layers
        self.net = nn.Sequential(*(EqualLinear(a, b, lr_mul=lr_mul, activate=True) for a, b in zip(dims, dims[1:])))
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor, *, track_mean: bool = False) -> torch.Tensor:
        z = z * torch.rsqrt(
            z.pow(2).mean(1, keepdim=True) + 1e-8
        )  # normalise z onto the sphere (StyleGAN's implementation)
        w = self.net(z)
        if track_mean:
            self.w_avg.lerp_(w.detach().mean(0).to(self.w_avg.dtype), 1.0 - 0.995)  # StyleGAN's w_avg_beta
        return w


class ModulatedConv2d(nn.Module):
    """Convolution whose weights are scaled per sample by a style (StyleGAN2 eq. 1-3).

    eq. 1: w'_ijk = s_i * w_ijk (style s_i of input channel i), eq. 3: w''_ijk = w'_ijk /
    sqrt(sum_{i,k} w'_ijk^2 + eps). Scaling the input channels by s and the output channels by
    the demodulation factor is the same computation without per-sample weights (the StyleGAN2
    code's non-fused path), which keeps the convolution an ordinary batched one.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, w_dim: int, *, demodulate: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.scale = 1.0 / math.sqrt(c_in * kernel * kernel)
        self.affine = EqualLinear(w_dim, c_in, bias_init=1.0)  # styles start at 1 (StyleGAN2 code)
        self.demodulate = demodulate

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        # x: (B, C_in, H, W), w: (B, w_dim)
        s = self.affine(w)  # (B, C_in)
        weight = self.weight * self.scale  # (C_out, C_in, k, k)
        x = F.conv2d(x * s[:, :, None, None], weight, padding=weight.shape[-1] // 2)  # eq. 1, (B, C_out, H, W)
        if self.demodulate:
            # eq. 2-3: output j has std sigma_j = sqrt(sum_{i,k} (s_i w_ijk)^2) for unit-variance input.
            sigma2 = s.pow(2) @ weight.pow(2).sum((2, 3)).t()  # (B, C_out)
            x = x * torch.rsqrt(sigma2 + 1e-8)[:, :, None, None]
        return x


class StyleLayer(nn.Module):
    """(optional 2x upsampling) -> modulated 3x3 conv -> scaled noise -> bias -> LeakyReLU."""

    def __init__(self, c_in: int, c_out: int, w_dim: int, *, upsample: bool) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(c_in, c_out, 3, w_dim)
        # One learned strength per layer for its noise input, starting at 0 (StyleGAN2 code).
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.upsample = upsample

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        x = self.conv(x, w) + self.noise_strength * noise  # noise: (B, 1, H, W), StyleGAN sec. 3.2
        return F.leaky_relu(x + self.bias[None, :, None, None], 0.2) * SQRT2


class ToImage(nn.Module):
    """Modulated 1x1 conv to image channels, without demodulation (StyleGAN2 code's ToRGB)."""

    def __init__(self, c_in: int, channels: int, w_dim: int) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(c_in, channels, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.conv(x, w) + self.bias[None, :, None, None]


class SynthesisNetwork(nn.Module):
    """ws (B, num_ws, w_dim) and noise maps -> images (B, C, H, W), nominally in [-1, 1].

    One level per resolution, from the base grid (4x4 or 7x7) up: a constant input and one
    style layer at the base, two style layers (the first upsampling) at every finer level.
    Each level adds its image to the upsampled image of the level below (the skip generator,
    StyleGAN2 fig. 7b). Level k's image uses the w of the next layer, as in StyleGAN2.
    """

    def __init__(self, w_dim: int, shape: tuple[int, int, int], width: int, min_width: int) -> None:
        super().__init__()
        channels, height, wide = shape
        h0, w0, n_up = plan_resolution(height, wide)
        widths = [max(width >> i, min_width) for i in range(n_up + 1)]  # base -> finest
        self.const = nn.Parameter(torch.randn(widths[0], h0, w0))
        levels = [nn.ModuleList([StyleLayer(widths[0], widths[0], w_dim, upsample=False)])]
        for c_in, c_out in zip(widths, widths[1:]):
            levels.append(
                nn.ModuleList(
                    [StyleLayer(c_in, c_out, w_dim, upsample=True), StyleLayer(c_out, c_out, w_dim, upsample=False)]
                )
            )
        self.levels = nn.ModuleList(levels)
        self.to_images = nn.ModuleList(ToImage(c, channels, w_dim) for c in widths)
        # The (H, W) of each layer's noise input, in layer order.
        self.noise_sizes = [(h0 << k, w0 << k) for k, level in enumerate(levels) for _ in level]
        self.num_ws = len(self.noise_sizes) + 1  # one w per style layer, plus the last image layer

    def make_noise(self, n: int, generator: torch.Generator | None, device: torch.device) -> list[torch.Tensor]:
        """One (n, 1, H, W) standard normal map per style layer."""
        return [gaussian((n, 1, h, w), generator, device) for h, w in self.noise_sizes]

    def forward(self, ws: torch.Tensor, noise: list[torch.Tensor]) -> torch.Tensor:
        x = self.const.expand(ws.shape[0], -1, -1, -1)  # (B, C0, h0, w0)
        image: torch.Tensor | None = None
        k = 0
        for level, to_image in zip(self.levels, self.to_images):
            for layer in level:
                x = layer(x, ws[:, k], noise[k])
                k += 1
            if image is not None:
                image = F.interpolate(image, scale_factor=2, mode="bilinear", align_corners=False)
            image = to_image(x, ws[:, k]) + (image if image is not None else 0.0)
        assert image is not None
        return image


class StyleGenerator(nn.Module):
    """Mapping and synthesis together, z -> images in [-1, 1]: the unit the EMA copy tracks."""

    def __init__(self, config: StyleGANConfig, shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.mapping = MappingNetwork(config.z_dim, config.w_dim, config.mapping_layers, config.mapping_lr_mul)
        self.synthesis = SynthesisNetwork(config.w_dim, shape, config.width, config.min_width)

    def forward(
        self,
        z: torch.Tensor,
        noise: list[torch.Tensor],
        *,
        mix_z: torch.Tensor | None = None,
        cutoff: int = 0,
        truncation: float = 1.0,
        track_mean: bool = False,
    ) -> torch.Tensor:
        num_ws = self.synthesis.num_ws
        ws = self.mapping(z, track_mean=track_mean)[:, None].repeat(1, num_ws, 1)  # (B, num_ws, w_dim)
        if mix_z is not None:
            # Style mixing: layers from ``cutoff`` on take the styles of a second latent (StyleGAN sec. 3.1).
            ws[:, cutoff:] = self.mapping(mix_z)[:, None]
        if truncation != 1.0:
            ws = self.mapping.w_avg.lerp(ws, truncation)  # truncation trick in W (StyleGAN, appendix B)
        # StyleGAN's output layer is linear. On MNIST's saturated pixels that let D win on the
        # exact background value and G collapsed to one image in our runs; a tanh bounds the
        # output to [-1, 1] like the data, as in DCGAN.
        return torch.tanh(self.synthesis(ws, noise))


# -- discriminator ---------------------------------------------------------------------------


def minibatch_stddev(x: torch.Tensor, group: int = 4) -> torch.Tensor:
    """Append the mean standard deviation over groups of samples as one more channel
    (Karras et al. 2018, sec. 3), so D can see a lack of variety."""
    b, c, h, w = x.shape
    g = max(d for d in range(1, min(group, b) + 1) if b % d == 0)  # the largest group size dividing B
    y = x.view(g, b // g, c, h, w)  # sample i*M + m is in group m
    y = (y.var(0, unbiased=False) + 1e-8).sqrt().mean((1, 2, 3))  # (M,)
    y = y.view(-1, 1, 1, 1).repeat(g, 1, h, w)  # (B, 1, H, W)
    return torch.cat([x, y], 1)


class DiscriminatorBlock(nn.Module):
    """Residual block that halves the resolution (StyleGAN2 fig. 7c)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv0 = EqualConv2d(c_in, c_in, 3, activate=True)
        self.conv1 = EqualConv2d(c_in, c_out, 3, activate=True)
        self.skip = EqualConv2d(c_in, c_out, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.skip(F.avg_pool2d(x, 2))
        x = F.avg_pool2d(self.conv1(self.conv0(x)), 2)
        return (x + skip) / SQRT2  # keeps the variance of the sum


class StyleDiscriminator(nn.Module):
    """images (B, C, H, W) -> logits (B,): the generator's resolutions in reverse."""

    def __init__(self, shape: tuple[int, int, int], width: int, min_width: int, mbstd_group: int) -> None:
        super().__init__()
        channels, height, wide = shape
        h0, w0, n_up = plan_resolution(height, wide)
        widths = [max(width >> i, min_width) for i in reversed(range(n_up + 1))]  # finest -> base
        self.mbstd_group = mbstd_group
        self.from_image = EqualConv2d(channels, widths[0], 1, activate=True)
        self.blocks = nn.Sequential(*(DiscriminatorBlock(a, b) for a, b in zip(widths, widths[1:])))
        self.conv = EqualConv2d(widths[-1] + 1, widths[-1], 3, activate=True)
        self.fc = EqualLinear(widths[-1] * h0 * w0, widths[-1], activate=True)
        self.out = EqualLinear(widths[-1], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.from_image(x))  # (B, C0, h0, w0)
        x = self.conv(minibatch_stddev(x, self.mbstd_group))
        return self.out(self.fc(x.flatten(1))).squeeze(1)  # (B,)


# -- the model -------------------------------------------------------------------------------


class StyleGAN(WarnsOnCollapse, GenerativeModel):
    """StyleGAN2-style generator and residual discriminator, non-saturating loss, R1, G EMA."""

    Config = StyleGANConfig
    capabilities = frozenset({"sample"})

    @classmethod
    def network_evaluations(cls, config: StyleGANConfig) -> int:
        return 1  # one generator pass (mapping + synthesis) per sample

    def __init__(self, config: StyleGANConfig, info: DataInfo) -> None:
        super().__init__(config, info)
        self.generator = StyleGenerator(config, info.shape)
        self.discriminator = StyleDiscriminator(info.shape, config.width, config.min_width, config.mbstd_group)
        self.g_ema = EMA(self.generator)  # samples come from an EMA generator (Karras et al. 2018, 2019)
        # R1 is measured only on regularisation steps; every step reports the latest value, so
        # the engine's per-interval means stay true. A buffer, so a resumed run reports it too.
        self.register_buffer("last_r1", torch.zeros(()))

    @classmethod
    def default_config(cls, info: DataInfo) -> StyleGANConfig:
        channels, height, width = info.shape
        if height * width <= 16 * 16:  # 8x8 digits
            return StyleGANConfig(z_dim=64, w_dim=64, mapping_layers=2, width=64, min_width=32)
        if channels == 1:  # 28x28 MNIST-like on CPU: 64 channels at 7x7, 32 at 14x14, 16 at 28x28
            return StyleGANConfig(z_dim=64, w_dim=64, mapping_layers=2, width=64, min_width=16)
        # CIFAR-10: R1 gamma 0.01 as in StyleGAN2-ADA's CIFAR-10 configuration.
        return StyleGANConfig(z_dim=256, w_dim=256, mapping_layers=4, width=256, min_width=128, r1_gamma=0.01)

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        cfg = self.config
        # Lazy R1 adds an every-k-steps update to D; StyleGAN2's implementation compensates by
        # rescaling D's Adam hyper-parameters with the ratio k / (k + 1).
        ratio = cfg.r1_every / (cfg.r1_every + 1) if cfg.r1_gamma > 0 and cfg.r1_every > 1 else 1.0
        return {
            "d": torch.optim.Adam(
                self.discriminator.parameters(), lr=cfg.lr * ratio, betas=(cfg.beta1**ratio, cfg.beta2**ratio)
            ),
            "g": torch.optim.Adam(self.generator.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2)),
        }

    def training_step(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        cfg = self.config
        real = to_signed(batch.x)  # (B, C, H, W) in [-1, 1]
        b, device = real.shape[0], real.device
        z = torch.randn(b, cfg.z_dim, device=device)
        mix_z, cutoff = None, 0
        if float(torch.rand(())) < cfg.mixing_prob:
            mix_z = torch.randn(b, cfg.z_dim, device=device)
            cutoff = int(torch.randint(1, self.generator.synthesis.num_ws, ()))
        noise = self.generator.synthesis.make_noise(b, None, device)

        with ctx.autocast():
            fake = self.generator(z, noise, mix_z=mix_z, cutoff=cutoff, track_mean=True)  # (B, C, H, W)

        regularise = cfg.r1_gamma > 0 and ctx.step % cfg.r1_every == 0
        real_in = real.detach().requires_grad_(regularise)
        with ctx.autocast():
            score_real = self.discriminator(real_in)
            d_loss = F.softplus(self.discriminator(fake.detach())).mean() + F.softplus(-score_real).mean()
            loss = d_loss
            if regularise:
                # R1: gamma / 2 * E ||grad_x D(x)||^2 on reals (Mescheder et al. 2018, eq. 9),
                # multiplied by the interval when applied lazily (StyleGAN2 sec. 3.1).
                (grad,) = torch.autograd.grad(score_real.sum(), real_in, create_graph=True)
                r1 = grad.float().pow(2).flatten(1).sum(1).mean()
                loss = d_loss + cfg.r1_gamma / 2 * r1 * cfg.r1_every
                self.last_r1.copy_(r1.detach())
        ctx.optimize(loss, "d")

        with frozen(self.discriminator), ctx.autocast():
            g_loss = F.softplus(-self.discriminator(fake)).mean()  # non-saturating loss
        ctx.optimize(g_loss, "g")

        self.g_ema.decay = ema_decay(b, (ctx.step + 1) * b, cfg.ema_half_life)
        self.g_ema.update(self.generator)
        return {
            "d_loss": d_loss.detach(),
            "g_loss": g_loss.detach(),
            "r1": self.last_r1.clone(),
            "spread": spread_ratio(fake, real),
        }

    @torch.no_grad()
    def sample(
        self, n: int, *, labels: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        refuse_labels(labels, "stylegan")
        net: StyleGenerator = self.g_ema.module  # type: ignore[assignment]
        device = net.synthesis.const.device
        z = gaussian((n, self.config.z_dim), generator, device)
        noise = net.synthesis.make_noise(n, generator, device)
        x = net(z, noise, truncation=self.config.truncation)  # (n, C, H, W) in [-1, 1]
        return to_unit(x)  # (n, C, H, W) float32 in [0, 1]
