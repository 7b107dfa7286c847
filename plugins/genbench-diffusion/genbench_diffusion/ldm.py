"""Latent diffusion (Rombach, Blattmann, Lorenz, Esser & Ommer 2022, arXiv:2112.10752).

Two stages in one run. For the first ``ae_steps`` training steps the KL autoencoder of
:mod:`genbench_diffusion.autoencoder` trains on the images; from then on it is frozen and
only the latent U-Net trains. The diffusion U-Net trains from step 0 too, on detached latents of
the current autoencoder (a joint warm-up that costs little, since latents are small), so both
optimizers step from the first batch. Latents are multiplied by ``latent_scale`` = 1 / std(z),
measured on the first batch after the autoencoder is frozen (Rombach et al. Sec. 4.3.2).
Sampling runs the DDPM or DDIM sampler in latent space and decodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from genbench.api import EMA
from genbench.api.dataset import DataInfo
from genbench.api.model import Batch, GenerativeModel, StepContext, eval_setting, memory_setting
from genbench.config import setting
from genbench.errors import GenbenchError
from genbench_diffusion.autoencoder import KLAutoencoder
from genbench_diffusion.samplers import make_sampler
from genbench_diffusion.schedule import NoiseSchedule
from genbench_diffusion.speed import adam
from genbench_diffusion.unet import UNet, guided_eps


@dataclass
class LDMConfig:
    # -- first stage ------------------------------------------------------------------
    ae_steps: int = setting(300, ge=0, le=10**9)  # training steps of the autoencoder; afterwards it is frozen
    ae_ch: int = setting(32, ge=1, le=4096)
    ae_mult: tuple[int, ...] = setting((1, 2, 2), ge=1, le=64)  # downsampling factor f = 2^(len - 1): 28x28 -> 7x7
    z_channels: int = setting(4, ge=1, le=1024)
    # Rombach et al.'s KL weight: latents are nearly deterministic, hence latent_scale
    kl_weight: float = setting(1e-6, ge=0, le=1e3)
    ae_lr: float = setting(1e-3, gt=0, le=1)
    # -- latent diffusion U-Net -------------------------------------------------------
    ch: int = setting(64, ge=1, le=4096)
    ch_mult: tuple[int, ...] = setting((1, 2), ge=1, le=64)
    num_res_blocks: int = setting(1, ge=0, le=64)
    attn_levels: tuple[int, ...] = setting((1,), ge=0, le=16)
    dropout: float = setting(0.0, ge=0, lt=1)
    timesteps: int = setting(1000, ge=2, le=100_000)
    schedule: Literal["linear", "cosine"] = "linear"
    lr: float = setting(1e-3, gt=0, le=1)
    warmup_steps: int = setting(100, ge=0, le=10**9)
    ema_decay: float = setting(0.999, ge=0, le=1)
    p_uncond: float = setting(0.1, ge=0, le=1)  # label dropout for classifier-free guidance
    # -- evaluation-time settings -----------------------------------------------------
    sampler: Literal["ddpm", "ddim"] = eval_setting("ddim", "ancestral DDPM or DDIM, in latent space")
    steps: int = eval_setting(50, "sampling steps, 1..timesteps", ge=1, le=100_000)
    eta: float = eval_setting(0.0, "DDIM η: 0 deterministic, 1 = DDPM posterior variance", ge=0, le=1)
    variance: Literal["large", "small"] = eval_setting("large", "DDPM σ²: β_t (large) or β̃_t (small)")
    guidance: float = eval_setting(
        1.0, "CFG scale s: ε_u + s(ε_c − ε_u); 1 = conditional, 0 = unconditional", ge=0, le=100
    )
    use_ema: bool = eval_setting(True, "sample with the EMA weights of the latent U-Net")
    eval_chunk: int = memory_setting(
        64, "images per autoencoder / U-Net call when sampling, reconstructing, encoding (memory only)", ge=1, le=10**6
    )

    def __post_init__(self) -> None:
        if not 1 <= self.steps <= self.timesteps:
            raise GenbenchError(f"steps={self.steps} must lie in 1..timesteps ({self.timesteps})")


class LDM(GenerativeModel):
    """A KL autoencoder and an ε-prediction U-Net on its scaled latents."""

    Config = LDMConfig
    capabilities = frozenset({"sample", "conditional", "reconstruct", "encode"})

    @classmethod
    def network_evaluations(cls, config: LDMConfig) -> int:
        # Guidance other than 0 or 1 evaluates the U-Net twice per step (conditional and null label).
        return config.steps * (1 if config.guidance in (0.0, 1.0) else 2) + 1  # + the decoder

    def __init__(self, config: LDMConfig, info: DataInfo) -> None:
        super().__init__(config, info)
        c, h, w = info.shape
        self.ae = KLAutoencoder(
            in_channels=c, image_size=(h, w), ch=config.ae_ch, ch_mult=config.ae_mult, z_channels=config.z_channels
        )
        self.unet = UNet(
            in_channels=config.z_channels,
            ch=config.ch,
            ch_mult=config.ch_mult,
            num_res_blocks=config.num_res_blocks,
            attn_levels=config.attn_levels,
            dropout=config.dropout,
            num_classes=info.num_classes,
        )
        self.ema = EMA(self.unet, config.ema_decay)
        self.schedule = NoiseSchedule.make(config.schedule, config.timesteps)
        self.register_buffer("latent_scale", torch.ones(()))  # 1 / std(z), checkpointed

    @classmethod
    def default_config(cls, info: DataInfo) -> LDMConfig:
        c, h, w = info.shape
        if max(h, w) <= 8:  # digits: f = 2, 4x4x2 latents
            return LDMConfig(ae_mult=(1, 2), z_channels=2, ch=32, ch_mult=(1,), attn_levels=(0,))
        if (c, h, w) == (3, 32, 32):  # CIFAR-10 on a GPU: f = 2, 16x16x4 latents
            return LDMConfig(
                ae_steps=5000,
                ae_ch=64,
                ae_mult=(1, 2),
                ch=128,
                ch_mult=(1, 2, 2),
                num_res_blocks=2,
                attn_levels=(1,),
                dropout=0.1,
                lr=2e-4,
                warmup_steps=5000,
                ema_decay=0.9999,
            )
        return LDMConfig()  # 28x28: f = 4, 7x7x4 latents

    def train(self, mode: bool = True) -> LDM:
        super().train(mode)
        self.ema.module.eval()
        return self

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        return (self.config.z_channels, *self.ae.latent_size)

    # -- training --------------------------------------------------------------------

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {
            "autoencoder": adam(self.ae.parameters(), self.config.ae_lr),
            "unet": adam(self.unet.parameters(), self.config.lr),
        }

    def training_step(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        cfg = self.config
        x = batch.x * 2 - 1  # (B, C, H, W) in [-1, 1]
        losses: dict[str, torch.Tensor] = {}
        if ctx.step < cfg.ae_steps:  # stage 1: the autoencoder learns
            with ctx.autocast():
                ae_loss, parts, z = self.ae.loss(x, cfg.kl_weight)
            ctx.optimize(ae_loss, "autoencoder")
            losses = {"ae_loss": ae_loss.detach(), **parts}
            z = z.detach().float()
        else:  # stage 2: the autoencoder is frozen
            with torch.no_grad():
                mean, logvar = self.ae.encode(x)
                z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        if ctx.step <= cfg.ae_steps:
            # Unit-variance latents (Rombach et al. Sec. 4.3.2); the last update uses the frozen autoencoder.
            # On the device, in float64 as the division by a Python float was: no host round trip.
            self.latent_scale.copy_(z.std().clamp(min=1e-8).double().reciprocal())
        z = z * self.latent_scale  # (B, z_channels, h, w)

        b = z.shape[0]
        t = torch.randint(0, cfg.timesteps, (b,), device=z.device)
        noise = torch.randn_like(z)
        z_t = self.schedule.q_sample(z, t, noise)
        y = None
        if self.info.num_classes:
            drop = torch.rand(b, device=z.device) < cfg.p_uncond
            y = torch.where(drop, torch.full_like(batch.y, self.info.num_classes), batch.y)
        lr_scale = min(1.0, (ctx.step + 1) / cfg.warmup_steps) if cfg.warmup_steps else 1.0
        for group in ctx.optimizers["unet"].param_groups:
            group["lr"] = cfg.lr * lr_scale
        with ctx.autocast():
            eps = self.unet(z_t, t, y)
        loss = F.mse_loss(eps.float(), noise)  # L_simple on latents, Rombach et al. eq. 2
        ctx.optimize(loss, "unet")
        self.ema.decay = min(cfg.ema_decay, (1 + ctx.step) / (10 + ctx.step))
        self.ema.update(self.unet)
        return {**losses, "loss": loss.detach()}

    # -- capabilities ----------------------------------------------------------------

    @torch.no_grad()
    def sample(
        self, n: int, *, labels: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        cfg = self.config
        net = self.ema.module if cfg.use_ema else self.unet
        device = self.latent_scale.device
        if labels is not None:
            labels = labels.to(device) if self.info.num_classes else None
        # Latents are unbounded: no clipping of the predicted z_0.
        sampler = make_sampler(
            cfg.sampler, self.schedule, steps=cfg.steps, eta=cfg.eta, variance=cfg.variance, clip_x0=False
        )
        eps = guided_eps(net, labels, cfg.guidance, cfg.eval_chunk)
        z = sampler(eps, (n, *self.latent_shape), generator=generator, device=device)
        x = self._decode(z / self.latent_scale)
        return ((x.float() + 1) / 2).clamp(0, 1)

    # The autoencoder at evaluation, eval_chunk images per call: on one CPU thread a 28x28
    # reconstruction took 1.67x the CPU time on 500 images at once as on 64. The same values.
    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        step = self.config.eval_chunk
        return torch.cat([self.ae.decode(z[i : i + step]) for i in range(0, max(len(z), 1), step)])

    def _latent_mean(self, x: torch.Tensor) -> torch.Tensor:
        step = self.config.eval_chunk
        return torch.cat([self.ae.encode(x[i : i + step] * 2 - 1)[0] for i in range(0, max(len(x), 1), step)])

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return ((self._decode(self._latent_mean(x)).float() + 1) / 2).clamp(0, 1)

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior mean of the latent, flattened: (B, z_channels · h · w)."""
        return self._latent_mean(x).flatten(1).float()
