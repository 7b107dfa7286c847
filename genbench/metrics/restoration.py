"""Reconstruction metrics: how well K posterior samples restore each degraded test image.

Every metric reads one pass of ``restore`` over the benchmark's test measurements (made once per
evaluation, :func:`posterior`) and scores each test image on its own, so the value is a mean of
per-image scores (:meth:`_Restoration.per_image`) whose spread gives its standard error:

- ``restore-psnr``: PSNR in dB of the posterior mean (the mean of the K samples) vs the truth;
- ``restore-ssim``: SSIM of the posterior mean (Wang et al. 2004: Gaussian window σ = 1.5,
  11 pixels wide; K1 = 0.01, K2 = 0.03, data range 1), computed as torchmetrics does: images
  reflect-padded by half a window, the SSIM map averaged over every pixel;
- ``restore-coverage90``: fraction of pixels whose true value lies in the central 90% interval
  of the K samples (empirical 5th to 95th percentile, linear interpolation); ideal 0.90;
- ``restore-coverage-gap``: |coverage − 0.90| per image, averaged: the ranked form of the
  calibration (0 is ideal; intervals too narrow and too wide both cost);
- ``restore-std-corr``: Pearson correlation, over an image's pixels, of the per-pixel posterior
  standard deviation with the absolute error of the posterior mean (0 when either is constant);
- ``restore-diversity``: the per-pixel standard deviation across the K samples, averaged;
- ``restore-consistency``: how far each sample's fit to its measurement is from the truth's:
  | RMS of A(sample) − y over the measured values − σ |, A the noiseless operator and σ the
  noise's standard deviation (0 for inpainting and downsampling, where the truth fits exactly;
  under noise the truth's RMS is σ, and a sample closer to y than that has fitted the noise),
  averaged over samples.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from genbench.api.dataset import ImageData
from genbench.api.metric import EvalContext, Metric, MetricValue, check_images
from genbench.api.protocols import cached, restoration_of
from genbench.api.uncertainty import mean_interval
from genbench.errors import GenbenchError
from genbench.metrics.reconstruction import psnr

SSIM_SIGMA = 1.5
SSIM_WINDOW = 11  # int(3.5 * sigma + 0.5) * 2 + 1, torchmetrics' width for sigma 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


@torch.no_grad()
def posterior(ctx: EvalContext) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's K samples for every test measurement, (N, K, C, H, W) float on the CPU, and the
    truth (N, C, H, W) float; made once per evaluation. Batch i draws from ``ctx.chunk_generator``."""

    def compute() -> tuple[torch.Tensor, torch.Tensor]:
        rest = restoration_of(ctx, "restore")
        model = ctx.model
        model.eval()
        m, k = rest.measurements, rest.samples
        batch = max(1, ctx.batch_size // k)  # K samples per measurement: keep a batch's images near batch_size
        chunks = []
        task = f"restoring ({m.op.describe()}, {k} samples each)"
        ctx.report(task, 0, len(m))
        for i in range(0, len(m), batch):
            part = m[i : i + batch].to(ctx.device)
            out = model.restore(part, k, generator=ctx.chunk_generator(7, i // batch)).float()
            if out.dim() != 5 or out.shape[:2] != (len(part), k):
                raise GenbenchError(
                    f"restore of model '{type(model).__name__}' returned shape {tuple(out.shape)}, "
                    f"not ({len(part)}, {k}, C, H, W)"
                )
            check_images(out.flatten(0, 1), f"restorations of model '{type(model).__name__}'", m.shape)
            chunks.append(out.cpu())
            ctx.report(task, i + len(part), len(m))
        return torch.cat(chunks), ImageData.to_float(rest.truth)

    result: tuple[torch.Tensor, torch.Tensor] = cached(ctx, "restore:posterior", compute)
    return result


def ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-image SSIM of (N, C, H, W) images in [0, 1] (sides of 6 pixels or more): (N,) float64."""
    c = x.shape[1]
    k = SSIM_WINDOW
    pad = (k - 1) // 2
    coords = torch.arange(k, dtype=torch.float64) - (k - 1) / 2
    g = torch.exp(-(coords**2) / (2 * SSIM_SIGMA**2))
    g = g / g.sum()
    kernel = (g[:, None] * g[None, :]).expand(c, 1, k, k)
    x, y = x.double(), y.double()
    stack = torch.cat([x, y, x * x, y * y, x * y])  # (5N, C, H, W)
    stack = F.pad(stack, (pad, pad, pad, pad), mode="reflect")
    mu_x, mu_y, xx, yy, xy = F.conv2d(stack, kernel, groups=c).chunk(5)
    var_x, var_y, cov = (xx - mu_x**2).clamp_min(0), (yy - mu_y**2).clamp_min(0), xy - mu_x * mu_y
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    smap = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return smap.flatten(1).mean(1)


def coverage(samples: torch.Tensor, truth: torch.Tensor, level: float = 0.9) -> torch.Tensor:
    """Per-image fraction of pixels inside the central ``level`` interval of the samples: (N,)."""
    tail = (1.0 - level) / 2
    q = torch.quantile(samples.double(), torch.tensor([tail, 1.0 - tail], dtype=torch.float64), dim=1)
    lo, hi = q[0], q[1]  # (N, C, H, W) each
    t = truth.double()
    return ((t >= lo) & (t <= hi)).double().flatten(1).mean(1)


def std_error_correlation(samples: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Per-image Pearson correlation of the posterior std with |posterior mean − truth|: (N,)."""
    s = samples.double()
    std = s.std(dim=1, correction=0).flatten(1)
    err = (s.mean(dim=1) - truth.double()).abs().flatten(1)
    a, b = std - std.mean(1, keepdim=True), err - err.mean(1, keepdim=True)
    denom = (a.pow(2).sum(1) * b.pow(2).sum(1)).sqrt()
    return torch.where(denom > 1e-12, (a * b).sum(1) / denom.clamp_min(1e-12), torch.zeros_like(denom))


def diversity(samples: torch.Tensor) -> torch.Tensor:
    """Per-image mean over pixels of the standard deviation across samples: (N,)."""
    return samples.double().std(dim=1, correction=0).flatten(1).mean(1)


class _Restoration(Metric):
    version = 1

    def per_image(self, ctx: EvalContext) -> torch.Tensor:
        """The metric's score of each test image, (N,) float64; the value is their mean."""
        raise NotImplementedError

    def extra(self) -> dict[str, Any]:
        return {}

    def compute(self, ctx: EvalContext) -> MetricValue:
        scores = self.per_image(ctx)
        rest = restoration_of(ctx, self.spec.name)
        fingerprint = {"metric": self.spec.name, "version": self.version, "reference": f"{ctx.data.name}/test",
                       **rest.fingerprint(), **self.extra()}  # fmt: skip
        return MetricValue(float(scores.mean()), fingerprint, interval=mean_interval(scores.numpy()))


class RestorePSNR(_Restoration):
    """PSNR of the posterior mean, dB (higher is better)."""

    def per_image(self, ctx: EvalContext) -> torch.Tensor:
        samples, truth = posterior(ctx)
        return psnr(((samples.double().mean(1) - truth.double()) ** 2).flatten(1).mean(1))

    def extra(self) -> dict[str, Any]:
        return {"estimate": "posterior mean", "max_db": 100}


class RestoreSSIM(_Restoration):
    """SSIM of the posterior mean (higher is better)."""

    def per_image(self, ctx: EvalContext) -> torch.Tensor:
        samples, truth = posterior(ctx)
        return ssim(samples.mean(1), truth)

    def extra(self) -> dict[str, Any]:
        return {"estimate": "posterior mean", "window": "gaussian sigma 1.5, 11 px, reflect-padded"}


class Coverage90(_Restoration):
    """Coverage of the central 90% posterior interval (ideal 0.90)."""

    def per_image(self, ctx: EvalContext) -> torch.Tensor:
        samples, truth = posterior(ctx)
        return coverage(samples, truth, 0.9)

    def extra(self) -> dict[str, Any]:
        return {"interval": "central 90%, empirical quantiles"}


class CoverageGap(Coverage90):
    """Mean per-image |coverage of the central 90% interval − 0.90| (lower is better)."""

    def per_image(self, ctx: EvalContext) -> torch.Tensor:
        return (super().per_image(ctx) - 0.9).abs()


class StdErrorCorrelation(_Restoration):
    """Correlation of posterior std with absolute error (higher is better)."""

    def per_image(self, ctx: EvalContext) -> torch.Tensor:
        samples, truth = posterior(ctx)
        return std_error_correlation(samples, truth)


class Diversity(_Restoration):
    """Mean per-pixel standard deviation across the posterior samples."""

    def per_image(self, ctx: EvalContext) -> torch.Tensor:
        return diversity(posterior(ctx)[0])


class Consistency(_Restoration):
    """|RMS of re-degraded samples minus the measurement − σ| (lower is better)."""

    version = 2  # 1: the RMS itself, which under noise ranked fitting the noise first

    def per_image(self, ctx: EvalContext) -> torch.Tensor:
        samples, _ = posterior(ctx)
        m = restoration_of(ctx, self.spec.name).measurements
        expected = m.op.sigma if m.op.op == "noise" else 0.0
        return (m.residual(samples).double() - expected).abs().mean(1)
