"""Posterior sampling with a diffusion prior: with the exact ε of a prior holding one image,
every method returns that image from its measurement (the methods' algebra is right)."""

from __future__ import annotations

import pytest
import torch
from genbench_diffusion.posterior import noise_level_step, restore
from genbench_diffusion.schedule import NoiseSchedule

from genbench.api.restoration import Degradation


def oracle(x0: torch.Tensor, schedule: NoiseSchedule):  # type: ignore[no-untyped-def]
    """ε̂(x_t, t) of a prior that is a point mass at x0 (in [-1, 1]): (x_t − √ᾱ x0) / √(1 − ᾱ)."""

    def eps(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        abar = schedule.alphas_cumprod[t].float().view(-1, 1, 1, 1)
        return (x - abar.sqrt() * x0.repeat(len(x) // len(x0), 1, 1, 1)) / (1 - abar).sqrt()

    return eps


@pytest.mark.parametrize(
    "op",
    [
        Degradation("inpaint", rate=0.5),
        Degradation("box", size=0.5),
        Degradation("downsample", factor=2),
        Degradation("noise", sigma=0.2),
    ],  # fmt: skip
)
def test_a_point_mass_prior_returns_its_image(op: Degradation) -> None:
    schedule = NoiseSchedule.make("linear", 1000)
    truth = torch.rand((2, 1, 8, 8), generator=torch.Generator().manual_seed(0))
    m = op.measure(truth, torch.Generator().manual_seed(1))
    eps = oracle((truth * 2 - 1).repeat_interleave(3, 0), schedule)
    out = restore(eps, schedule, m, 3, steps=50, resample=2, generator=torch.Generator().manual_seed(2))
    assert out.shape == (2, 3, 1, 8, 8)
    torch.testing.assert_close(out, truth.unsqueeze(1).expand_as(out), atol=2e-3, rtol=0)


def test_the_noise_start_matches_the_measurement_noise() -> None:
    schedule = NoiseSchedule.make("linear", 1000)
    t = noise_level_step(schedule, 0.2)
    abar = float(schedule.alphas_cumprod[t])
    assert abs((1 - abar) / abar - 0.4**2) < 0.01  # σ = 0.2 on [0, 1] is 0.4 on [-1, 1]
