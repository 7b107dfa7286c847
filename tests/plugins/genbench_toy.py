"""A tiny fixture plugin: a factorised per-pixel model that trains in milliseconds.

It is a real (if weak) generative model: every pixel is an independent discretised logistic
with a learned location and scale. Two optimizers (location and scale) exercise the engine's
multi-optimizer checkpointing, and noise drawn in each step exercises RNG restoration.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from genbench import hookimpl
from genbench.api import rand_tensor
from genbench.api.dataset import ImageData
from genbench.api.metric import EvalContext, Metric, MetricValue
from genbench.api.model import Batch, GenerativeModel, StepContext, eval_setting
from genbench.specs import DatasetSpec, MetricSpec, ModelSpec


@dataclass
class ToyConfig:
    lr: float = 0.05
    noise: float = 0.01  # input jitter, so each step draws from the global RNG
    poison_step: int = -1  # >=0: the loss turns NaN from this step on (exercises divergence handling)
    warn_above: float = float("inf")  # a final logged loss above this gives a training warning
    crash_rank: int = -1  # >=0: under torchrun, that rank raises at step 2 (a crash the others must not wait on)
    temperature: float = eval_setting(1.0, "scale multiplier when sampling")


def _log_prob(x: torch.Tensor, loc: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """log P of 8-bit values x = k/255 under a discretised logistic, summed per image."""
    inv = torch.exp(-log_scale)
    plus = torch.sigmoid(inv * (x - loc + 0.5 / 255))
    minus = torch.sigmoid(inv * (x - loc - 0.5 / 255))
    cdf_plus = torch.where(x > 0.999, torch.ones_like(plus), plus)
    cdf_minus = torch.where(x < 0.001, torch.zeros_like(minus), minus)
    return torch.log((cdf_plus - cdf_minus).clamp_min(1e-12)).flatten(1).sum(1)


class ToyPixel(GenerativeModel):
    Config = ToyConfig
    capabilities = frozenset({"sample", "log_likelihood"})

    def __init__(self, config: ToyConfig, info) -> None:  # type: ignore[no-untyped-def]
        super().__init__(config, info)
        self.loc = nn.Parameter(torch.rand(info.shape) * 0.2 + 0.4)  # (C, H, W)
        self.log_scale = nn.Parameter(torch.full(info.shape, -1.0))

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {
            "loc": torch.optim.Adam([self.loc], lr=self.config.lr),
            "scale": torch.optim.Adam([self.log_scale], lr=self.config.lr),
        }

    def training_step(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        if ctx.step == 2 and os.environ.get("RANK") == str(self.config.crash_rank):
            raise RuntimeError(f"rank {self.config.crash_rank} crashes, as asked")
        x = (batch.x + self.config.noise * torch.randn_like(batch.x)).clamp(0, 1)
        if 0 <= self.config.poison_step <= ctx.step:
            x = x * float("nan")
        with ctx.autocast():
            nll = -_log_prob(x, self.loc, self.log_scale).mean()
        ctx.optimize(nll, "loc", retain_graph=True)
        nll2 = -_log_prob(x, self.loc, self.log_scale).mean()
        ctx.optimize(nll2, "scale")
        return {"loss": nll.detach(), "loss_scale": nll2.detach()}

    def training_warning(self, history):  # type: ignore[no-untyped-def]
        step, last = history["loss"][-1]
        n = len(history["loss"])
        return (
            f"loss {last:.3f} at step {step} is above {self.config.warn_above} ({n} points)"
            if last > self.config.warn_above
            else None
        )

    def sample(self, n, *, labels=None, generator=None):  # type: ignore[no-untyped-def]
        u = rand_tensor((n, *self.info.shape), generator=generator, device=self.loc.device).clamp(1e-6, 1 - 1e-6)
        scale = torch.exp(self.log_scale) * self.config.temperature
        return (self.loc + scale * (torch.log(u) - torch.log1p(-u))).clamp(0, 1)

    def log_likelihood(self, x, y=None):  # type: ignore[no-untyped-def]
        return _log_prob(x, self.loc, self.log_scale)


@hookimpl
def genbench_register_models() -> list[ModelSpec]:
    return [
        ModelSpec(
            "toy-pixel",
            "toy",
            "genbench_toy:ToyPixel",
            frozenset({"sample", "log_likelihood"}),
            "independent discretised logistic per pixel (test fixture)",
            default=True,
        )
    ]


def load_stripes(root: Path | None = None) -> ImageData:
    """4x4 images with one bright row (the label), the rest dark: a dataset made in memory."""
    gen = torch.Generator().manual_seed(0)
    y = torch.randint(0, 4, (600,), generator=gen)
    x = torch.full((600, 1, 4, 4), 20, dtype=torch.uint8)
    x[torch.arange(600), 0, y] = 230
    return ImageData("toy-stripes", x[:500], y[:500], x[500:], y[500:], num_classes=4)


class MeanGap(Metric):
    """|mean intensity of samples - mean intensity of the test split|."""

    def compute(self, ctx: EvalContext) -> MetricValue:
        real, _ = ctx.reference()
        value = abs(float(ctx.samples().mean()) - float(real.mean()))
        return MetricValue(value, {**self.base_fingerprint(ctx), "reference": f"{ctx.data.name}/test"})


@hookimpl
def genbench_register_datasets() -> list[DatasetSpec]:
    return [DatasetSpec("toy-stripes", "genbench_toy:load_stripes", (1, 4, 4), 4, "fixture", needs_files=False)]


@hookimpl
def genbench_register_metrics() -> list[MetricSpec]:
    return [MetricSpec("toy-mean-gap", "genbench_toy:MeanGap", "min", "sample", ("metric", "num_samples", "reference"))]


@hookimpl
def genbench_register_benchmarks() -> list[Path]:
    # toy-conditional: its required metric needs class-conditional sampling, which toy-pixel lacks.
    return [Path(__file__).with_name("toy-conditional.yaml"), Path(__file__).with_name("toy-stripes.yaml")]


@hookimpl
def genbench_register_commands(app) -> None:  # type: ignore[no-untyped-def]
    @app.command("toy-params")
    def toy_params() -> None:
        """Print the toy model's parameter count on digits."""
        print(2 * 8 * 8)
