"""A convolutional variational autoencoder (Kingma & Welling 2014, arXiv:1312.6114).

q(z|x) is a diagonal Gaussian from a strided-conv encoder, p(z) = N(0, I), and p(x|z) is a
discretised logistic per sub-pixel (Salimans et al. 2017), a proper probability mass over the
256 levels of 8-bit data. Training minimises the negative ELBO in nats per image;
``log_likelihood`` is the importance-weighted bound of Burda et al. 2016 (arXiv:1509.00519),
so that NLL in bits/dim is comparable with published 8-bit figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from genbench.api import normal_per_item, rand_tensor, randn_tensor
from genbench.api.dataset import DataInfo
from genbench.api.model import Batch, GenerativeModel, StepContext, eval_setting, memory_setting
from genbench.config import setting
from genbench_vae.likelihood import (
    discretized_logistic_draw,
    discretized_logistic_log_prob,
    discretized_logistic_mean,
    discretized_logistic_median,
    discretized_logistic_mode,
)
from genbench_vae.nets import Decoder, Encoder

# Bounds on what the networks output, so that one large Adam step cannot send a value to
# where exp() overflows or the likelihood's gradient is 0 * inf (long GPU runs on MNIST went
# NaN without them). None of them binds a sensible fit:
# - log-scale floor (PixelCNN++ clamps at -7 on [-1, 1]; this is [0, 1], where a level is 1/255
#   wide): at exp(-8) a bin spans about 12 scales, so P(level) can still reach 0.99;
# - log-scale ceiling: at exp(2) the logistic is already flat across [0, 1];
# - location within (-1, 2): the edge levels 0 and 255 reach probability ~1 well inside it;
# - posterior log-variance within [-30, 20], as latent diffusion's DiagonalGaussianDistribution.
LOG_SCALE_MIN, LOG_SCALE_MAX = -8.0, 2.0
LOC_MIN, LOC_MAX = -1.0, 2.0
LOGVAR_MIN, LOGVAR_MAX = -30.0, 20.0


@dataclass
class VAEConfig:
    latent_dim: int = setting(32, ge=1, le=4096)  # size of z
    hidden: int = setting(32, ge=1, le=1024)  # channels at full resolution; doubled at each halving, capped at 4x
    lr: float = setting(1e-3, gt=0, le=1)  # Adam learning rate
    # >0: the KL weight ramps linearly from 0 to 1 over this many steps (Bowman et al. 2016,
    # arXiv:1511.06349); the logged `loss` is always the true -ELBO.
    kl_warmup_steps: int = setting(0, ge=0, le=10**9)
    iwae_k: int = eval_setting(64, "importance samples per image in the IWAE bound on log P(x)", ge=1, le=100_000)
    # Recorded with every metric, so that values of an earlier estimator never share a leaderboard row:
    # 2 (this code) draws each image's noise in turn, independent of eval.batch_size; 1 drew it per batch.
    bound_version: int = eval_setting(2, "version of the IWAE bound's noise draw (2: per image)", ge=2, le=2)
    iwae_batch: int = memory_setting(
        256,
        "images encoded or decoded per pass: the IWAE bound, samples, reconstructions (memory only)",
        ge=1,
        le=10**9,
    )
    # What sample() shows of p(x|z) for z ~ N(0, I); the likelihood is the same whichever is chosen.
    # "mode": the most probable 8-bit level per sub-pixel (crisp digits); "mean": E[x|z], which a
    # wide logistic pulls towards mid-grey (dim, low-contrast strokes); "draw": a sample of p(x|z),
    # i.e. the model's own distribution over images, pixel noise included.
    sample_mode: Literal["mode", "median", "mean", "draw"] = eval_setting("mode", "what sample() shows of p(x|z)")


def at_least_float32(t: torch.Tensor) -> torch.Tensor:
    """AMP's half-precision outputs as float32; float64 (tests that need machine-independent values) kept."""
    return t if t.dtype == torch.float64 else t.float()


def gaussian_log_prob(z: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mean, exp(logvar)) summed over the last dimension."""
    return -0.5 * (math.log(2 * math.pi) + logvar + (z - mean) ** 2 * torch.exp(-logvar)).sum(-1)


class VAE(GenerativeModel):
    """Convolutional VAE with a discretised logistic decoder.

    ``sample`` decodes z ~ N(0, I) and shows p(x|z) as ``config.sample_mode`` says: its mode
    (default), its mean or a draw from it; ``reconstruct`` returns the mean at the posterior
    mean of z, and ``encode`` the posterior mean itself.
    """

    Config = VAEConfig
    capabilities = frozenset({"sample", "log_likelihood", "reconstruct", "encode"})
    # Smoke runs bound log P(x) with 16 importance samples, not 64: a quarter of the decoder passes
    # (recorded as iwae_k=16 beside the values, so never ranked with the 64-sample bound).
    smoke_settings = {"iwae_k": 16}

    @classmethod
    def network_evaluations(cls, config: VAEConfig) -> int:
        return 1  # one decoder pass per sample

    def __init__(self, config: VAEConfig, info: DataInfo) -> None:
        super().__init__(config, info)
        self.encoder = Encoder(info.shape, config.hidden, config.latent_dim)
        self.decoder = Decoder(info.shape, config.hidden, config.latent_dim, cond_dim=self._cond_dim(info))

    @classmethod
    def default_config(cls, info: DataInfo) -> VAEConfig:
        channels, height, width = info.shape
        if channels == 3:  # CIFAR-like RGB: wider nets and a larger code
            return cls.Config(latent_dim=128, hidden=64)
        if height * width <= 64:  # 8x8 digits: a small code suffices
            return cls.Config(latent_dim=16)
        return cls.Config()

    # -- conditioning: none here; the CVAE overrides these three ----------------------

    def _cond_dim(self, info: DataInfo) -> int:
        return 0

    def _condition(self, y: torch.Tensor | None) -> torch.Tensor | None:
        """The decoder's conditioning vector for labels ``y``; the VAE ignores labels."""
        return None

    def _sample_condition(
        self, n: int, labels: torch.Tensor | None, generator: torch.Generator | None, device: torch.device
    ) -> torch.Tensor | None:
        if labels is not None:
            raise ValueError("vae is unconditional: sample() takes no labels (use cvae)")
        return None

    # -- the two halves ---------------------------------------------------------------

    def _posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z|x): mean and log-variance, (B, latent) each, in float32."""
        mean, logvar = self.encoder(x)
        return at_least_float32(mean), at_least_float32(logvar).clamp(LOGVAR_MIN, LOGVAR_MAX)

    def _decode(self, z: torch.Tensor, cond: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """p(x|z): logistic location and log-scale per sub-pixel, (B, C, H, W) each, in float32."""
        loc, log_scale = self.decoder(z, cond)
        # A smooth bound with slope 1 at the centre: a zero network output means mid-grey.
        half = (LOC_MAX - LOC_MIN) / 2
        loc = (LOC_MIN + LOC_MAX) / 2 + half * torch.tanh(at_least_float32(loc) / half)
        return loc, at_least_float32(log_scale).clamp(LOG_SCALE_MIN, LOG_SCALE_MAX)

    def _decode_many(self, z: torch.Tensor, cond: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`_decode` of any number of z, ``iwae_batch`` at a time (cache-sized passes; the same values)."""
        step = self.config.iwae_batch
        parts = [
            self._decode(z[i : i + step], None if cond is None else cond[i : i + step])
            for i in range(0, max(len(z), 1), step)
        ]
        return torch.cat([loc for loc, _ in parts]), torch.cat([log_scale for _, log_scale in parts])

    def _neg_elbo_terms(self, x: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """One-sample reconstruction term -log p(x|z) and analytic KL(q(z|x) || p(z)), (B,) nats each."""
        mean, logvar = self._posterior(x)
        # Reparameterisation trick (Kingma & Welling 2014, sec. 2.4): z = mean + std * eps.
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)  # (B, latent)
        loc, log_scale = self._decode(z, self._condition(y))
        rec = -discretized_logistic_log_prob(x, loc, log_scale).sum(dim=(1, 2, 3))  # (B,)
        # KL of two Gaussians in closed form (Kingma & Welling 2014, appendix B).
        kl = 0.5 * (mean**2 + torch.exp(logvar) - 1.0 - logvar).sum(dim=1)  # (B,)
        return rec, kl

    def elbo(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """A one-sample estimate of the ELBO on log P(x) in nats, shape (B,)."""
        rec, kl = self._neg_elbo_terms(x, y)
        return -(rec + kl)

    # -- training ---------------------------------------------------------------------

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"vae": torch.optim.Adam(self.parameters(), lr=self.config.lr)}

    def kl_weight(self, step: int) -> float:
        """The KL weight at a training step: 1, or a linear warm-up to 1."""
        if self.config.kl_warmup_steps <= 0:
            return 1.0
        return min(1.0, step / self.config.kl_warmup_steps)

    def training_step(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        with ctx.autocast():
            rec, kl = self._neg_elbo_terms(batch.x, batch.y)
        ctx.optimize((rec + self.kl_weight(ctx.step) * kl).mean(), "vae")
        return {
            "loss": (rec + kl).mean().detach(),  # -ELBO, nats per image
            "rec": rec.mean().detach(),
            "kl": kl.mean().detach(),
        }

    # -- capabilities -----------------------------------------------------------------

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    @torch.no_grad()
    def sample(
        self, n: int, *, labels: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """p(x|z) for z ~ N(0, I) drawn from ``generator``, shown as ``sample_mode`` says: (n, C, H, W) in [0, 1]."""
        device = self._device()
        cond = self._sample_condition(n, labels, generator, device)
        z = randn_tensor((n, self.config.latent_dim), generator=generator, device=device)
        loc, log_scale = self._decode_many(z, cond)
        mode = self.config.sample_mode
        if mode == "mode":
            return discretized_logistic_mode(loc, log_scale)
        if mode == "draw":
            return discretized_logistic_draw(loc, log_scale, rand_tensor(loc.shape, generator=generator, device=device))
        if mode == "median":
            return discretized_logistic_median(loc)
        if mode == "mean":
            return discretized_logistic_mean(loc, log_scale).clamp(0.0, 1.0)
        raise ValueError(f"unknown sample_mode '{mode}': use mode, median, mean or draw")

    @torch.inference_mode()
    def log_likelihood(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """IWAE lower bound on log P(x) in nats of the 8-bit images ``x``, shape (B,).

        Uses ``iwae_k`` importance samples from q(z|x) (Burda et al. 2016, eq. 8): the bound
        rises towards log P(x) as K grows and equals the ELBO in expectation at K = 1. Noise
        comes from the global CPU generator, image by image (:func:`genbench.api.normal_per_item`),
        so an image's bound does not depend on the batch it is scored in.
        """
        return self._iwae_bound(x, self._condition(y))

    def _iwae_bound(self, x: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        mean, logvar = self._posterior(x)  # (B, latent)
        # Each image's K draws in turn (image-major), so that eval.batch_size cannot change them.
        eps = normal_per_item(x.shape[0], (self.config.iwae_k, mean.shape[1]), device=x.device, dtype=mean.dtype)
        return self._iwae_bound_from_noise(x, cond, mean, logvar, eps)

    def _iwae_bound_from_noise(
        self,
        x: torch.Tensor,
        cond: torch.Tensor | None,
        mean: torch.Tensor,
        logvar: torch.Tensor,
        eps: torch.Tensor,
        log_ratio: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The IWAE bound (B,) given q(z|x) and its standard normal draws ``eps`` (B, K, latent).

        ``cond`` is per image (B, cond_dim) or per importance sample (B, K, cond_dim); ``log_ratio``
        (B, K), if given, is added to each log weight (cvae: a drawn label's log P(y) - log r(y|x)).
        """
        b, k = eps.shape[:2]
        z = mean[:, None] + torch.exp(0.5 * logvar)[:, None] * eps  # (B, K, latent)
        log_q = gaussian_log_prob(z, mean[:, None], logvar[:, None])  # (B, K)
        log_prior = gaussian_log_prob(z, torch.zeros_like(z), torch.zeros_like(z))  # (B, K)
        # All B*K (image, z) pairs, image-major, decoded a chunk at a time: chunks of a few hundred
        # decodes keep the activations in the CPU's cache (against 2048 at once: 1.13x less CPU time,
        # 1.5-2x less wall time on a loaded machine, whose other processes evict a big pass's activations).
        z_flat = z.flatten(0, 1)  # (B*K, latent)
        image = torch.arange(b, device=x.device).repeat_interleave(k)  # the image of each pair
        per_pass = max(1, self.config.iwae_batch // self._decodes_per_pair(cond))
        log_px = []
        for start in range(0, b * k, per_pass):
            idx = image[start : start + per_pass]
            if cond is None or cond.dim() == 2:
                chunk_cond = None if cond is None else cond.index_select(0, idx)
            else:
                chunk_cond = cond.flatten(0, 1)[start : start + per_pass]  # (pairs, cond_dim), image-major
            log_px.append(self._log_px_given_z(x.index_select(0, idx), z_flat[start : start + per_pass], chunk_cond))
        log_w = torch.cat(log_px).view(b, k) + log_prior - log_q  # (B, K)
        if log_ratio is not None:
            log_w = log_w + log_ratio
        return torch.logsumexp(log_w, dim=1) - math.log(k)  # log (1/K) sum_k w_k, stably

    def _decodes_per_pair(self, cond: torch.Tensor | None) -> int:
        """Decoder passes :meth:`_log_px_given_z` spends on one (image, z) pair."""
        return 1

    def _log_px_given_z(self, x: torch.Tensor, z: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        """log p(x | z) of the decoder, summed over sub-pixels: x (N, C, H, W), z (N, latent) -> (N,)."""
        loc, log_scale = self._decode(z, cond)
        return discretized_logistic_log_prob(x, loc, log_scale).sum(dim=(1, 2, 3))

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior mean E[z|x], shape (B, latent_dim)."""
        step = self.config.iwae_batch
        return torch.cat([self._posterior(x[i : i + step])[0] for i in range(0, max(len(x), 1), step)])

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """E[x|z] at the posterior mean of z: (B, C, H, W) in [0, 1]."""
        loc, log_scale = self._decode_many(self.encode(x), None)
        return discretized_logistic_mean(loc, log_scale).clamp(0.0, 1.0)
