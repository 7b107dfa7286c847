"""DDPM: denoising diffusion probabilistic models (Ho, Jain & Abbeel 2020, arXiv:2006.11239).

The U-Net predicts the noise ε in x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε and is trained with the
simple loss ‖ε − ε_θ(x_t, t)‖². An EMA copy of the network samples and scores. Labels are
dropped with probability ``p_uncond`` during training, so one network is both conditional and
unconditional and classifier-free guidance works at sampling time (Ho & Salimans 2022).
The sampler (ancestral DDPM or DDIM), its step count, η, the guidance scale and the number of
timesteps of the likelihood estimate are evaluation-time settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F

from genbench.api import EMA
from genbench.api.dataset import DataInfo
from genbench.api.model import Batch, GenerativeModel, StepContext, eval_setting, memory_setting
from genbench.api.restoration import Measurements
from genbench.config import setting
from genbench.errors import GenbenchError
from genbench_diffusion.likelihood import negative_vlb
from genbench_diffusion.posterior import restore as restore_posterior
from genbench_diffusion.samplers import make_sampler
from genbench_diffusion.schedule import NoiseSchedule
from genbench_diffusion.speed import CompileMode, adam, prepare_network, to_memory_format
from genbench_diffusion.unet import UNet, guided_eps

# Architecture presets; any field set in the config (not None) overrides its preset value.
PRESETS: dict[str, dict[str, Any]] = {
    # 8x8 digits: 8 -> 4, attention at 4x4.
    "tiny": {"ch": 32, "ch_mult": (1, 2), "num_res_blocks": 1, "attn_levels": (1,), "dropout": 0.0},
    # 28x28 MNIST / Fashion-MNIST on a CPU: 28 -> 14 -> 7, attention at 7x7; 1.1M parameters.
    "small": {"ch": 32, "ch_mult": (1, 2, 2), "num_res_blocks": 1, "attn_levels": (2,), "dropout": 0.0},
    # Ho et al.'s CIFAR-10 model (App. B): 32 -> 16 -> 8 -> 4, attention at 16x16; 35.7M parameters.
    "paper": {"ch": 128, "ch_mult": (1, 2, 2, 2), "num_res_blocks": 2, "attn_levels": (1,), "dropout": 0.1},
}


@dataclass
class DDPMConfig:
    # -- architecture: None takes the preset's value ----------------------------------
    preset: Literal["tiny", "small", "paper"] = "small"
    ch: int | None = setting(None, ge=1, le=4096)  # channels of the first level
    ch_mult: tuple[int, ...] | None = setting(None, ge=1, le=64)  # channel multiplier per resolution level
    num_res_blocks: int | None = setting(None, ge=0, le=64)  # residual blocks per level on the down path
    attn_levels: tuple[int, ...] | None = setting(None, ge=0, le=16)  # levels with self-attention (0 = full resolution)
    dropout: float | None = setting(None, ge=0, lt=1)
    # -- diffusion --------------------------------------------------------------------
    timesteps: int = setting(1000, ge=2, le=100_000)  # T
    schedule: Literal["linear", "cosine"] = "linear"
    beta_start: float = setting(1e-4, gt=0, lt=1)  # linear schedule only
    beta_end: float = setting(0.02, gt=0, lt=1)
    # -- training ---------------------------------------------------------------------
    lr: float = setting(2e-4, gt=0, le=1)  # Adam, Ho et al.'s CIFAR-10 rate
    warmup_steps: int = setting(5000, ge=0, le=10**9)  # linear learning-rate warm-up (Ho et al.)
    # warmed up as min(decay, (1 + step) / (10 + step)) so short runs average too
    ema_decay: float = setting(0.9999, ge=0, le=1)
    # label dropout for classifier-free guidance; 1.0 = Ho et al.'s unconditional model
    p_uncond: float = setting(0.1, ge=0, le=1)
    # -- speed: how the training step runs, not what it computes (beyond rounding) ----
    compile: CompileMode = setting("off", help="torch.compile mode of the U-Net; reduce-overhead = CUDA graphs")
    channels_last: bool = setting(False, help="NHWC memory format for the U-Net and its inputs")
    # -- evaluation-time settings -----------------------------------------------------
    sampler: Literal["ddpm", "ddim"] = eval_setting("ddpm", "ancestral DDPM or DDIM")
    steps: int = eval_setting(1000, "sampling steps, 1..timesteps; fewer than T respaces the chain", ge=1, le=100_000)
    eta: float = eval_setting(0.0, "DDIM η: 0 deterministic, 1 = DDPM posterior variance", ge=0, le=1)
    variance: Literal["large", "small"] = eval_setting("large", "DDPM σ²: β_t (large) or β̃_t (small)")
    guidance: float = eval_setting(
        1.0, "CFG scale s: ε_u + s(ε_c − ε_u); 1 = conditional, 0 = unconditional", ge=0, le=100
    )
    clip_x0: bool = eval_setting(True, "clip the predicted x_0 to [-1, 1] at each step")
    use_ema: bool = eval_setting(True, "sample and score with the EMA weights")
    resample: int = eval_setting(1, "restore, inpainting: RePaint's resamplings per step (U)", ge=1, le=100)
    nll_timesteps: int = eval_setting(
        100, "network calls per image for the bound, 2..timesteps; T = full sum", ge=2, le=100_000
    )
    # Recorded with every metric, so that values of an earlier estimator never share a leaderboard row:
    # 2 (this code) draws each image's timesteps and noise in turn, independent of eval.batch_size.
    bound_version: int = eval_setting(2, "version of the bound's draws (2: per image)", ge=2, le=2)
    eval_chunk: int = memory_setting(
        64, "images per U-Net call when sampling and scoring (memory only)", ge=1, le=10**6
    )

    def __post_init__(self) -> None:
        if not 1 <= self.steps <= self.timesteps:
            raise GenbenchError(f"steps={self.steps} must lie in 1..timesteps ({self.timesteps})")
        if not 2 <= self.nll_timesteps <= self.timesteps:
            raise GenbenchError(f"nll_timesteps={self.nll_timesteps} must lie in 2..timesteps ({self.timesteps})")

    def architecture(self) -> dict[str, Any]:
        """The U-Net's arguments: the preset with every set field applied over it."""
        arch = dict(PRESETS[self.preset])
        for key in arch:
            if getattr(self, key) is not None:
                arch[key] = getattr(self, key)
        return arch


class DDPM(GenerativeModel):
    """ε-prediction diffusion in pixel space with ancestral/DDIM sampling and a variational bound."""

    Config = DDPMConfig
    capabilities = frozenset({"sample", "conditional", "log_likelihood", "restore"})

    @classmethod
    def network_evaluations(cls, config: DDPMConfig) -> int:
        # Guidance other than 0 or 1 evaluates the U-Net twice per step (conditional and null label).
        return config.steps * (1 if config.guidance in (0.0, 1.0) else 2)

    def __init__(self, config: DDPMConfig, info: DataInfo) -> None:
        super().__init__(config, info)
        self.unet = UNet(in_channels=info.shape[0], num_classes=info.num_classes, **config.architecture())
        self.ema = EMA(self.unet, config.ema_decay)
        self.schedule = NoiseSchedule.make(
            config.schedule, config.timesteps, beta_start=config.beta_start, beta_end=config.beta_end
        )
        # After the EMA copy, which samples: only the network that trains is compiled.
        prepare_network(self.unet, compile=config.compile, channels_last=config.channels_last)
        prepare_network(self.ema.module, compile="off", channels_last=config.channels_last)

    @classmethod
    def default_config(cls, info: DataInfo) -> DDPMConfig:
        c, h, w = info.shape
        if (c, h, w) == (3, 32, 32):
            return DDPMConfig(preset="paper")  # Ho et al.'s CIFAR-10 setting throughout, for a GPU
        # CPU-sized runs (one epoch of MNIST): a faster learning rate, a shorter EMA, and DDIM with 50
        # steps by default, since 1000 ancestral steps for thousands of samples take hours on a CPU.
        small = {
            "lr": 1e-3,
            "warmup_steps": 100,
            "ema_decay": 0.999,
            "sampler": "ddim",
            "steps": 50,
            "nll_timesteps": 20,
        }
        if max(h, w) <= 8:
            return DDPMConfig(preset="tiny", **small)
        # NHWC on 28x28: the training step on one CPU thread ran 10-20% faster (mkldnn's convolution
        # backward), the same arithmetic up to rounding; at 8x8 it made no difference.
        return DDPMConfig(preset="small", channels_last=True, **small)

    def train(self, mode: bool = True) -> DDPM:
        super().train(mode)
        self.ema.module.eval()  # the EMA copy never trains: no dropout when it samples
        return self

    @property
    def net(self) -> UNet:
        """The network that samples and scores."""
        return self.ema.module if self.config.use_ema else self.unet

    # -- training --------------------------------------------------------------------

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"unet": adam(self.unet.parameters(), self.config.lr)}

    def training_step(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        cfg = self.config
        x0 = batch.x * 2 - 1  # (B, C, H, W) in [-1, 1]
        b = x0.shape[0]
        t = torch.randint(0, cfg.timesteps, (b,), device=x0.device)
        noise = torch.randn_like(x0)
        x_t = to_memory_format(self.schedule.q_sample(x0, t, noise), cfg.channels_last)
        y = None
        if self.info.num_classes:
            # Classifier-free guidance: train the null label on a fraction p_uncond of the batch.
            drop = torch.rand(b, device=x0.device) < cfg.p_uncond
            y = torch.where(drop, torch.full_like(batch.y, self.info.num_classes), batch.y)

        lr_scale = min(1.0, (ctx.step + 1) / cfg.warmup_steps) if cfg.warmup_steps else 1.0
        for group in ctx.optimizers["unet"].param_groups:
            group["lr"] = cfg.lr * lr_scale
        with ctx.autocast():
            eps = self.unet(x_t, t, y)
        loss = F.mse_loss(eps.float(), noise)  # L_simple, Ho et al. eq. 14
        ctx.optimize(loss, "unet")

        self.ema.decay = min(cfg.ema_decay, (1 + ctx.step) / (10 + ctx.step))
        self.ema.update(self.unet)
        return {"loss": loss.detach()}

    # -- capabilities ----------------------------------------------------------------

    @torch.no_grad()
    def sample(
        self, n: int, *, labels: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        cfg = self.config
        device = next(self.net.parameters()).device
        if labels is not None:
            labels = labels.to(device) if self.info.num_classes else None
        sampler = make_sampler(
            cfg.sampler, self.schedule, steps=cfg.steps, eta=cfg.eta, variance=cfg.variance, clip_x0=cfg.clip_x0
        )
        eps = guided_eps(self.net, labels, cfg.guidance, cfg.eval_chunk)
        x = sampler(eps, (n, *self.info.shape), generator=generator, device=device)  # (n, C, H, W) in [-1, 1]
        return ((x + 1) / 2).clamp(0, 1).float()

    @torch.no_grad()
    def restore(self, m: Measurements, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """K posterior samples per measurement with this model as the prior (genbench_diffusion.posterior):
        RePaint for inpainting, DDNM for downsampling, the chain started at the noise's level for noise."""
        cfg = self.config
        eps = guided_eps(self.net, None, 0.0, cfg.eval_chunk)  # the unconditional prior (the null label)
        return restore_posterior(
            eps, self.schedule, m, k, steps=cfg.steps, resample=cfg.resample, clip_x0=cfg.clip_x0, generator=generator
        )

    @torch.inference_mode()
    def log_likelihood(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The variational lower bound on log p(x) in nats, (B,), for 8-bit x = k / 255.

        Unconditional (null label) whatever ``y`` is: the quantity of the paper's NLL column.
        With ``nll_timesteps`` < T this is the unbiased stratified estimate of
        :func:`genbench_diffusion.likelihood.negative_vlb`; with T it is the full sum.
        """
        cfg = self.config
        x0 = x.to(next(self.net.parameters()).device) * 2 - 1
        bound = negative_vlb(
            guided_eps(self.net, None, 1.0),
            self.schedule,
            x0,
            evaluations=cfg.nll_timesteps,
            variance=cfg.variance,
            clip_x0=cfg.clip_x0,
            chunk=cfg.eval_chunk,
        )
        return (-bound).float()
