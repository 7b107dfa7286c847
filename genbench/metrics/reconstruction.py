"""``recon-mse`` and ``psnr``: how well a model with ``reconstruct`` gives back the test images.

Both read one pass of reconstructions over the whole test split, on the [0, 1] scale:
``recon-mse`` is the mean over images of the per-image mean squared error; ``psnr`` the mean
over images of 10·log10(1 / per-image MSE) in dB (an exact reconstruction counts as 100 dB).
"""

from __future__ import annotations

from typing import Any

import torch

from genbench.api.dataset import ImageData
from genbench.api.metric import EvalContext, Metric, MetricValue, check_images
from genbench.api.protocols import cached
from genbench.api.uncertainty import mean_interval

MIN_MSE = 1e-10  # caps PSNR at 100 dB, so one perfect image cannot make the mean infinite


@torch.no_grad()
def reconstruction_errors(ctx: EvalContext, x: torch.Tensor, task: str = "reconstructions") -> torch.Tensor:
    """Per-image mean squared reconstruction error of uint8 images ``x``: (N,) float64; progress under ``task``."""
    model = ctx.model
    model.eval()
    errors = []
    ctx.report(task, 0, len(x))
    for i in range(0, len(x), ctx.batch_size):
        batch = ImageData.to_float(x[i : i + ctx.batch_size]).to(ctx.device)
        rec = model.reconstruct(batch).float()
        check_images(rec, f"reconstructions of model '{type(model).__name__}'", tuple(batch.shape[1:]))
        errors.append(((rec - batch) ** 2).flatten(1).mean(1).double().cpu())
        ctx.report(task, i + len(batch), len(x))
    return torch.cat(errors)


def split_errors(ctx: EvalContext) -> torch.Tensor:
    """Per-image reconstruction errors of the whole test split, made once per evaluation."""
    return cached(
        ctx, "recon:test", lambda: reconstruction_errors(ctx, ctx.data.split("test")[0], "reconstructions: test images")
    )


def psnr(errors: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of images on a [0, 1] scale from their mean squared errors."""
    return 10.0 * torch.log10(1.0 / errors.clamp_min(MIN_MSE))


class _Reconstruction(Metric):
    version = 1
    reads = frozenset({"batch_size", "seed"})

    def fingerprint(self, ctx: EvalContext, count: int) -> dict[str, Any]:
        return {"metric": self.spec.name, "version": self.version, "reference": f"{ctx.data.name}/test",
                "reference_count": count, "scale": "[0,1]"}  # fmt: skip


class ReconstructionMSE(_Reconstruction):
    """Mean per-image MSE of reconstructions of the test split (lower is better)."""

    def compute(self, ctx: EvalContext) -> MetricValue:
        errors = split_errors(ctx)
        return MetricValue(
            float(errors.mean()), self.fingerprint(ctx, len(errors)), interval=mean_interval(errors.numpy())
        )


class PSNR(_Reconstruction):
    """Mean per-image PSNR of reconstructions of the test split, dB (higher is better)."""

    def compute(self, ctx: EvalContext) -> MetricValue:
        errors = split_errors(ctx)
        per_image = psnr(errors)
        fingerprint = {**self.fingerprint(ctx, len(errors)), "max_db": 100}
        return MetricValue(float(per_image.mean()), fingerprint, interval=mean_interval(per_image.numpy()))
