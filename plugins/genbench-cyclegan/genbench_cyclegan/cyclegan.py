"""CycleGAN: unpaired image-to-image translation (Zhu, Park, Isola & Efros 2017, arXiv:1703.10593).

Two generators, G: A -> B and F: B -> A, and two discriminators, D_B (real B vs G(a)) and D_A
(real A vs F(b)). The choices follow the authors' reference implementation
(junyanz/pytorch-CycleGAN-and-pix2pix, ``models/cycle_gan_model.py`` and ``networks.py``):

- generator: the ResNet generator of Johnson et al. 2016 (c7s1-ngf, two stride-2 downsamplings,
  residual blocks, two fractionally-strided upsamplings, c7s1-C, tanh), instance norm,
  reflection padding; the paper uses 9 blocks at 256x256 and 6 at 128x128;
- discriminator: the PatchGAN of pix2pix (Isola et al. 2017): 4x4 convolutions, LeakyReLU 0.2,
  instance norm, one logit per patch; three stride-2 layers give the paper's 70x70 patches;
- losses: least-squares GAN (Mao et al. 2017) for both players; cycle consistency L1 with
  lambda = 10 in both directions; identity L1 weighted 0.5 * lambda;
- the discriminators see generated images drawn from a 50-image history pool
  (Shrivastava et al. 2017), half from the pool and half new, once the pool is full;
- Adam 2e-4, beta1 0.5; the learning rate stays constant for the first half of training
  and decays linearly to zero over the second (the paper: 100 + 100 epochs).

Scaled to small images (``default_config``): fewer channels and residual blocks, one
downsampling on 28x28 (a 14x14 bottleneck: two would leave 7x7 cells, each wider than a
digit's stroke, and the translations' labels and the ground-truth errors were worse; README),
and a PatchGAN with one stride-2 layer, whose 16x16 receptive field covers about the same part
of a 28x28 digit as 70x70 does of a 256x256 photo's object. The reference trains with batch 1, one
update per image; ``default_train_settings`` keeps it for large images and uses batches of 4 on
28x28 and 16 on 8x8 (instance norm keeps the networks per-image either way).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genbench.api.dataset import DataInfo
from genbench.api.model import Batch, GenerativeModel, StepContext
from genbench.api.translation import check_direction
from genbench.config import setting


@dataclass
class CycleGANConfig:
    ngf: int = setting(64, ge=1, le=4096)  # generator channels at full resolution (paper: 64), doubled per downsampling
    n_down: int = setting(2, ge=0, le=8)  # stride-2 downsamplings in the generator (paper: 2)
    n_blocks: int = setting(9, ge=0, le=64)  # residual blocks at the bottleneck (paper: 9 at 256x256, 6 at 128x128)
    ndf: int = setting(64, ge=1, le=4096)  # discriminator channels of its first layer (paper: 64)
    d_layers: int = setting(3, ge=1, le=8)  # stride-2 layers of the PatchGAN: 3 = 70x70 patches, 2 = 34x34, 1 = 16x16
    lambda_cyc: float = setting(10.0, ge=0, le=1000)  # cycle-consistency weight (paper: 10)
    lambda_idt: float = setting(0.5, ge=0, le=1000)  # identity weight, as a fraction of lambda_cyc (paper: 0.5)
    pool_size: int = setting(50, ge=0, le=10**6)  # generated images the discriminators' history pool holds (paper: 50)
    lr: float = setting(2e-4, gt=0, le=1)  # Adam step size (paper)
    beta1: float = setting(0.5, ge=0, lt=1)  # Adam beta1 (paper)
    beta2: float = setting(0.999, ge=0, lt=1)
    # fraction of the run after which lr decays linearly to 0 (paper: 100 of 200 epochs)
    decay_start: float = setting(0.5, ge=0, le=1)
    # std of the N(0, std) weight init (reference: init_type normal, gain 0.02)
    init_gain: float = setting(0.02, gt=0, le=10)


def linear_decay(step: int, total: int, decay_start: float) -> float:
    """Learning-rate factor: 1 until ``decay_start`` of ``total`` steps, then linearly to 0 at the end."""
    if total <= 0:
        return 1.0
    start = int(decay_start * total)
    if step < start:
        return 1.0
    return max(0.0, 1.0 - (step - start) / max(1, total - start))


class ImagePool(nn.Module):
    """History of generated images for the discriminator (Shrivastava et al. 2017, sec. 2.3).

    Until the pool is full every new image is stored and returned. Afterwards each image of a
    batch is, with probability 1/2, returned as it is, or else swapped with a random stored
    image, which is returned in its place (the reference's ``util/image_pool.py``). The pool
    lives in buffers, so checkpoints carry it; the draws use torch's global generator, which
    the engine seeds and checkpoints.
    """

    def __init__(self, size: int, shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.size = size
        self.register_buffer("images", torch.zeros(size, *shape))  # (size, C, H, W) in [-1, 1]
        self.register_buffer("filled", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def query(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) new generated images -> (B, C, H, W) images for the discriminator."""
        if self.size == 0:
            return x
        out = x.detach().clone()
        for i in range(x.shape[0]):
            filled = int(self.filled)
            if filled < self.size:
                self.images[filled] = x[i]
                self.filled += 1
            elif float(torch.rand(())) > 0.5:
                j = int(torch.randint(0, self.size, ()))
                out[i] = self.images[j]
                self.images[j] = x[i]
        return out


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            nn.InstanceNorm2d(channels),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            nn.InstanceNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """(B, C, H, W) in [-1, 1] -> (B, C, H, W) in [-1, 1]; H and W divisible by 2**n_down.

    c7s1-ngf, then n_down x (3x3 stride-2 conv doubling the channels), n_blocks residual blocks
    at H/2**n_down, n_down x (3x3 fractionally-strided conv halving them), c7s1-C and tanh.
    """

    def __init__(self, channels: int, ngf: int, n_down: int, n_blocks: int) -> None:
        super().__init__()
        # Instance norm has no affine shift here (reference: affine=False), so convs keep their bias.
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(channels, ngf, 7),
            nn.InstanceNorm2d(ngf),
            nn.ReLU(True),
        ]
        for i in range(n_down):
            c = ngf * 2**i
            layers += [nn.Conv2d(c, 2 * c, 3, 2, 1), nn.InstanceNorm2d(2 * c), nn.ReLU(True)]
        layers += [ResidualBlock(ngf * 2**n_down) for _ in range(n_blocks)]
        for i in reversed(range(n_down)):
            c = ngf * 2 ** (i + 1)
            up = nn.ConvTranspose2d(c, c // 2, 3, 2, 1, output_padding=1)  # exactly doubles the side
            layers += [up, nn.InstanceNorm2d(c // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class PatchDiscriminator(nn.Module):
    """(B, C, H, W) in [-1, 1] -> (B, 1, h, w) logits, one per overlapping patch (pix2pix's NLayerDiscriminator).

    ``n_layers`` stride-2 4x4 convs (the first without norm), then a stride-1 conv and the
    stride-1 output conv; the receptive field is 16, 34 and 70 pixels for 1, 2 and 3 layers.
    """

    def __init__(self, channels: int, ndf: int, n_layers: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2**n, 8)
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, 2, 1), nn.InstanceNorm2d(ndf * mult)]
            layers.append(nn.LeakyReLU(0.2, True))
        prev, mult = mult, min(2**n_layers, 8)
        layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, 1, 1), nn.InstanceNorm2d(ndf * mult), nn.LeakyReLU(0.2, True)]
        layers += [nn.Conv2d(ndf * mult, 1, 4, 1, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def normal_init(module: nn.Module, gain: float) -> None:
    """The reference's ``init_weights(init_type="normal")``: conv weights N(0, gain), biases 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, gain)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def lsgan(logits: torch.Tensor, target: float) -> torch.Tensor:
    """Least-squares GAN loss: mean (D(x) - target)^2 over every patch."""
    return F.mse_loss(logits, torch.full_like(logits, target))


class CycleGAN(GenerativeModel):
    """G: A -> B (``g_ab``) and F: B -> A (``g_ba``) trained on unpaired batches of A and B."""

    Config = CycleGANConfig
    capabilities = frozenset({"translate"})

    def __init__(self, config: CycleGANConfig, info: DataInfo) -> None:
        super().__init__(config, info)
        channels, height, width = info.shape
        if height % 2**config.n_down or width % 2**config.n_down:
            raise ValueError(f"image sides {height}x{width} must be divisible by 2**n_down = {2**config.n_down}")
        self.g_ab = ResnetGenerator(channels, config.ngf, config.n_down, config.n_blocks)
        self.g_ba = ResnetGenerator(channels, config.ngf, config.n_down, config.n_blocks)
        self.d_a = PatchDiscriminator(channels, config.ndf, config.d_layers)
        self.d_b = PatchDiscriminator(channels, config.ndf, config.d_layers)
        for net in (self.g_ab, self.g_ba, self.d_a, self.d_b):
            net.apply(lambda m: normal_init(m, config.init_gain))
        self.pool_a = ImagePool(config.pool_size, info.shape)  # generated A images, F(b)
        self.pool_b = ImagePool(config.pool_size, info.shape)  # generated B images, G(a)

    @classmethod
    def default_config(cls, info: DataInfo) -> CycleGANConfig:
        _, height, width = info.shape
        if min(height, width) <= 16:  # 8x8 digits: one downsampling to 4x4
            return CycleGANConfig(ngf=16, n_down=1, n_blocks=2, ndf=16, d_layers=1)
        if min(height, width) <= 32:  # 28x28: 28 -> 14 bottleneck; ~5 min per quick run on one idle CPU thread
            return CycleGANConfig(ngf=8, n_down=1, n_blocks=3, ndf=16, d_layers=1)
        if min(height, width) <= 128:  # the paper's 128x128 setting
            return CycleGANConfig(n_blocks=6)
        return CycleGANConfig()  # 256x256 and up: the paper's

    @classmethod
    def default_train_settings(cls, info: DataInfo) -> dict[str, Any]:
        # The reference updates once per image (batch 1): 20,000 updates in a quick run, where
        # the engine's batch of 64 gives 313, too few for the adversarial game to settle (on
        # mnist2color every translation metric improved from batch 64 to 16 to 4; README). 28x28
        # trains at 4 (5,000 updates a quick run, about half the reference's CPU time per
        # image), large images at the reference's 1. 8x8 digits at 16: there 16 did as well as 4
        # (digits2color quick, README) and keeps the digits suite's smoke runs short.
        side = min(info.shape[1:])
        return {"batch_size": 16 if side <= 16 else 4 if side <= 32 else 1}

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        betas = (self.config.beta1, self.config.beta2)
        generators = list(self.g_ab.parameters()) + list(self.g_ba.parameters())
        discriminators = list(self.d_a.parameters()) + list(self.d_b.parameters())
        return {
            "g": torch.optim.Adam(generators, lr=self.config.lr, betas=betas),
            "d": torch.optim.Adam(discriminators, lr=self.config.lr, betas=betas),
        }

    def training_step(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        if batch.x_b is None:
            raise ValueError("cyclegan trains on two-domain datasets (e.g. --dataset mnist2color): the batch has no B")
        cfg = self.config
        factor = linear_decay(ctx.step, ctx.total_steps, cfg.decay_start)
        for opt in ctx.optimizers.values():
            for group in opt.param_groups:
                group["lr"] = cfg.lr * factor
        a, b = batch.x * 2 - 1, batch.x_b * 2 - 1  # (B, C, H, W) in [-1, 1]

        # Generators (the reference updates G first, with the discriminators frozen).
        self.d_a.requires_grad_(False)
        self.d_b.requires_grad_(False)
        with ctx.autocast():
            fake_b = self.g_ab(a)  # G(a)
            rec_a = self.g_ba(fake_b)  # F(G(a))
            fake_a = self.g_ba(b)  # F(b)
            rec_b = self.g_ab(fake_a)  # G(F(b))
            gan = lsgan(self.d_b(fake_b), 1.0) + lsgan(self.d_a(fake_a), 1.0)
            cycle = cfg.lambda_cyc * (F.l1_loss(rec_a, a) + F.l1_loss(rec_b, b))
            loss = gan + cycle
            idt = torch.zeros((), device=a.device)
            if cfg.lambda_idt > 0:  # G should leave B images alone and F A images (paper sec. 5.2)
                idt = cfg.lambda_cyc * cfg.lambda_idt * (F.l1_loss(self.g_ab(b), b) + F.l1_loss(self.g_ba(a), a))
                loss = loss + idt
        ctx.optimize(loss, "g")
        self.d_a.requires_grad_(True)
        self.d_b.requires_grad_(True)

        # Discriminators: real -> 1, pooled fakes -> 0; halved "to slow D down" (reference).
        with ctx.autocast():
            old_b = self.pool_b.query(fake_b.detach())
            old_a = self.pool_a.query(fake_a.detach())
            d_b = 0.5 * (lsgan(self.d_b(b), 1.0) + lsgan(self.d_b(old_b), 0.0))
            d_a = 0.5 * (lsgan(self.d_a(a), 1.0) + lsgan(self.d_a(old_a), 0.0))
        ctx.optimize(d_a + d_b, "d")
        return {
            "g_gan": gan.detach(),
            "cycle": cycle.detach(),
            "identity": idt.detach(),
            "d_a": d_a.detach(),
            "d_b": d_b.detach(),
            "lr_factor": torch.tensor(factor),
        }

    @torch.no_grad()
    def translate(self, x: torch.Tensor, direction: str) -> torch.Tensor:
        net = self.g_ab if check_direction(direction) == "a2b" else self.g_ba
        return (net(x.float() * 2 - 1) + 1) / 2  # (B, C, H, W) in [0, 1]
