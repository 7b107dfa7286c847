"""Negative log-likelihood in bits per dimension, and THE dequantisation convention.

Every likelihood model in genbench reports the same quantity, so that bits/dim compare with
each other and with papers:

1. Data are 8-bit: each of the D = C·H·W values is a level k in {0, ..., 255}, shown to models
   as x = k / 255 (:func:`to_levels` recovers k).
2. ``model.log_likelihood(x)`` returns log P(k) in nats: the log-probability of the discrete
   image, one number per image. It is at most 0.
3. A discrete model (PixelCNN, a VAE with a discretised decoder) reports log P(k) directly.
4. A model of a continuous density p on [0, 1]^D turns it into a discrete bound with uniform
   dequantisation (Theis et al. 2016, https://arxiv.org/abs/1511.01844):
   u = (k + v) / 256 with v ~ U[0, 1)^D (:func:`dequantize`), and

       log P(k) >= E_v[ log p(u) ] - D · log 256      (:func:`discrete_log_prob_from_density`)

   since P(k) = ∫ over the cell [k/256, (k+1)/256)^D of p(u) du and the cell has volume 256^-D.
   One draw of v per image is an unbiased estimate of the bound.
5. bits/dim = -log P(k) / (D · ln 2) (:func:`bits_per_dim`). A model uniform over the 256
   levels has log P = -D log 256, which is exactly 8 bits/dim.
6. The Gibbs check: for ANY normalised model, -log2 P averaged over uniformly random 8-bit
   images is at least 8 bits/dim (the cross-entropy of the uniform distribution with a model
   is at least the uniform's entropy), and a bound only adds to it. A model that returns a
   density instead of a mass, sums a bound wrongly or sees the pixel it predicts scores below
   8 on noise, so the metric scores :data:`NOISE_IMAGES` noise images drawn from the
   evaluation seed (:func:`noise_bits_per_dim`) and refuses to record an NLL that fails.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import torch

from genbench.api.metric import EvalContext, Metric, MetricValue, check_images, report_progress
from genbench.api.protocols import cached
from genbench.api.random import randint_tensor
from genbench.api.uncertainty import mean_interval
from genbench.errors import GenbenchError

LEVELS = 256
CONVENTION = "8bit-uniform-dequantization"  # recorded in every NLL fingerprint
NOISE_IMAGES = 300  # uniformly random 8-bit images the Gibbs check scores
NOISE_SEED_OFFSET = 7919  # the check's images come from the evaluation seed plus this offset
# Monte Carlo estimates of a bound (one dequantisation draw, K importance samples) fluctuate;
# a normalised model lands this far below 8 bits/dim on 300 noise images by chance, not more.
NOISE_SLACK = 0.01


def to_levels(x: torch.Tensor) -> torch.Tensor:
    """The 8-bit levels k (int64) of images shown as x = k / 255."""
    return torch.round(x * (LEVELS - 1)).long()


def dequantize(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """u = (k + v) / 256 with v ~ U[0, 1): a point of the cell of level k, in [0, 1)."""
    noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return (to_levels(x).to(x.dtype) + noise) / LEVELS


def discrete_log_prob_from_density(log_p_u: torch.Tensor, num_dims: int) -> torch.Tensor:
    """Lower bound on log P(k) in nats from log p(u) of a density on [0, 1]^D at dequantised u."""
    return log_p_u - num_dims * math.log(LEVELS)


def bits_per_dim(log_prob_nats: torch.Tensor | float, num_dims: int) -> torch.Tensor | float:
    """-log P(k) / (D ln 2): nats per image to bits per dimension."""
    return -log_prob_nats / (num_dims * math.log(2))


def uniform_noise_images(n: int, shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """(n, *shape) images k / 255 with k uniform on 0..255, drawn on the CPU from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    return randint_tensor(LEVELS, (n, *shape), generator=gen).float() / (LEVELS - 1)


def noise_bits_per_dim(
    model: Any,
    shape: tuple[int, ...],
    *,
    seed: int,
    n: int = NOISE_IMAGES,
    batch_size: int = 500,
    device: torch.device | str = "cpu",
) -> float:
    """Mean -log2 P per dimension that ``model.log_likelihood`` gives uniform noise images (>= 8 if normalised).

    Inside an evaluation its progress is reported (a bound costs about a second an image on a CPU)."""
    x_all = uniform_noise_images(n, shape, seed)
    total = 0.0
    task = "nll: uniform-noise images (Gibbs check)"
    report_progress(task, 0, n)
    with torch.no_grad():
        for i in range(0, n, batch_size):
            log_p = model.log_likelihood(x_all[i : i + batch_size].to(device)).double().cpu()
            total += float(log_p.sum())
            report_progress(task, min(i + batch_size, n), n)
    return float(bits_per_dim(total / n, math.prod(shape)))


def check_noise_bits(value: float, model_name: str, n: int = NOISE_IMAGES) -> None:
    """Refuse a likelihood that puts more than uniform mass on noise: Gibbs says >= 8 bits/dim."""
    if not value >= 8.0 - NOISE_SLACK:
        raise GenbenchError(
            f"nll: {model_name} gives {n} uniformly random 8-bit images {value:.4f} bits/dim, below the "
            f"8 bits/dim any normalised model must pay (Gibbs; slack {NOISE_SLACK}): its log_likelihood is "
            "not a log-probability of 8-bit images (a density, a wrongly summed bound, or a pixel leak)"
        )


def _generators() -> list[torch.Tensor]:
    """The global generators a likelihood bound draws from (torch's CPU one, and CUDA's when present)."""
    return [torch.get_rng_state(), *(torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [])]


def _set_generators(states: list[torch.Tensor]) -> None:
    torch.set_rng_state(states[0])
    if torch.cuda.is_available() and len(states) > 1:
        torch.cuda.set_rng_state_all(states[1:])


def test_log_likelihoods(ctx: EvalContext, n: int, what: str, task: str) -> torch.Tensor:
    """log P (nats, float64) of the first ``n`` test images, in batches of ``ctx.batch_size``: (n,).

    ``what`` names the metric in errors, ``task`` the pass in progress reports.

    Made once per evaluation and shared by the metrics that read it (``nll`` and ``ood-auroc``'s
    in-distribution scores). A stochastic bound (IWAE, a dequantisation, a diffusion bound's
    timesteps) draws from the global generators, so a pass is reused only when it starts from
    the same generator state (each metric starts from the evaluation seed: the same noise), and
    the generators are then left as the pass left them: whatever the metric draws next (ood-auroc's
    out-of-distribution images) draws the numbers it would have drawn after its own pass.
    """
    start = _generators()
    digest = hashlib.sha256(b"".join(t.numpy().tobytes() for t in start)).hexdigest()[:16]

    def compute() -> tuple[torch.Tensor, list[torch.Tensor]]:
        x_all, _ = ctx.data.split("test")
        model = ctx.model
        model.eval()
        per_image: list[torch.Tensor] = []
        ctx.report(task, 0, n)
        with torch.no_grad():
            for i in range(0, n, ctx.batch_size):
                end = min(i + ctx.batch_size, n)
                x = ctx.data.to_float(x_all[i:end]).to(ctx.device)
                check_images(x, f"{what} test images")
                log_p = model.log_likelihood(x).double().cpu()
                if log_p.shape != (len(x),):
                    raise GenbenchError(
                        f"{what}: {type(model).__name__}.log_likelihood must return one value per image, "
                        f"shape ({len(x)},), got {tuple(log_p.shape)}"
                    )
                if not torch.isfinite(log_p).all():
                    raise GenbenchError(f"{what}: {type(model).__name__}.log_likelihood returned NaN or inf")
                per_image.append(log_p)
                ctx.report(task, end, n)
        return torch.cat(per_image), _generators()

    values, after = cached(ctx, f"loglik:test:{n}:{ctx.batch_size}:{digest}", compute)
    _set_generators(after)
    return values


class NLL(Metric):
    """Mean negative log-likelihood of the test images, in bits/dim (lower is better).

    The first ``ctx.test_count`` test images (the benchmark's count for the budget; 0, the
    default and the standard budget's, means the whole test set) are scored without their labels, so
    every model reports log P(x): a class-conditional model marginalises over its labels, and
    its log P(x | y), which is not comparable, is never ranked beside unconditional models.
    Then :data:`NOISE_IMAGES` uniform noise images are scored (the Gibbs check, point 6 above);
    their bits/dim is recorded under the fingerprint's ``observed`` key, which the fingerprint
    hash leaves out, and a value below 8 refuses the whole metric.
    """

    version = 2  # v2: the test images used are the benchmark's count, no longer eval.num_samples
    reads = frozenset({"batch_size", "seed"})  # a bound's noise is drawn per batch from the seed

    def compute(self, ctx: EvalContext) -> MetricValue:
        x_all, _ = ctx.data.split("test")
        n = min(ctx.test_count, len(x_all)) if ctx.test_count else len(x_all)
        if n < 1:
            raise GenbenchError("nll: needs at least 1 test image; the test split is empty")
        num_dims = math.prod(x_all.shape[1:])
        model = ctx.model
        # log P of each test image (shared with ood-auroc): the interval is the t-interval of their mean
        log_p = test_log_likelihoods(ctx, n, "nll", "nll: test images")
        self._check(log_p, n, type(model).__name__)
        bits = bits_per_dim(log_p, num_dims)
        assert isinstance(bits, torch.Tensor)
        value = float(bits.sum()) / n
        shape = tuple(x_all.shape[1:])
        seed = ctx.seed + NOISE_SEED_OFFSET
        # Always NOISE_IMAGES, whatever the test count: NOISE_SLACK is calibrated for that many, and a
        # bound's Monte Carlo noise on fewer is a false alarm (a tiny DDPM gave 8 noise images 6.63 bits/dim).
        n_noise = ctx.noise_images or NOISE_IMAGES
        noise = noise_bits_per_dim(model, shape, seed=seed, n=n_noise, batch_size=ctx.batch_size, device=ctx.device)
        if not ctx.noise_images:  # a cost estimate's handful of noise images is too few to judge by
            check_noise_bits(noise, type(model).__name__, n_noise)
        fingerprint = self.fingerprint(ctx, n)
        fingerprint["observed"] = {"noise_bits_per_dim": round(noise, 4), "noise_images": n_noise}
        return MetricValue(value, fingerprint, interval=mean_interval(bits.numpy()))

    @staticmethod
    def _check(log_p: torch.Tensor, batch: int, model_name: str) -> None:
        if log_p.shape != (batch,):
            raise GenbenchError(
                f"nll: {model_name}.log_likelihood must return one value per image, shape ({batch},), "
                f"got {tuple(log_p.shape)}"
            )
        if not torch.isfinite(log_p).all():
            raise GenbenchError(f"nll: {model_name}.log_likelihood returned NaN or inf")
        if float(log_p.max()) > 1e-3:
            # log P of a discrete image is at most 0; a positive value is a density, not a probability.
            raise GenbenchError(
                f"nll: {model_name}.log_likelihood returned log P = {float(log_p.max()):.4g} > 0 nats, "
                "which no discrete probability can be: convert densities with "
                "genbench.metrics.nll.discrete_log_prob_from_density"
            )

    def fingerprint(self, ctx: EvalContext, count: int) -> dict[str, Any]:
        return {
            **self.base_fingerprint(ctx),
            "reference": f"{ctx.data.name}/test",
            "reference_count": count,
            "dequantization": CONVENTION,
            "noise_check": f"{NOISE_IMAGES} uniform 8-bit images from eval seed + {NOISE_SEED_OFFSET}, >= 8 bits/dim",
        }
