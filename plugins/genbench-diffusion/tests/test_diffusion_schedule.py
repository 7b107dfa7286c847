"""Noise schedules against their closed forms."""

from __future__ import annotations

import math

import pytest
import torch
from genbench_diffusion.schedule import NoiseSchedule, cosine_alpha_bar


def test_linear_schedule_matches_ho_et_al() -> None:
    s = NoiseSchedule.make("linear", 1000)
    assert s.betas[0].item() == pytest.approx(1e-4) and s.betas[-1].item() == pytest.approx(0.02)
    # ᾱ_t = Π_{s ≤ t} (1 − β_s), written out without cumprod.
    for t in (0, 1, 10, 500, 999):
        closed = math.prod(1 - (1e-4 + (0.02 - 1e-4) * i / 999) for i in range(t + 1))
        assert s.alphas_cumprod[t].item() == pytest.approx(closed, rel=1e-10)
    # The end of the chain is nearly pure noise: ᾱ_T ≈ 4.04e-5, so x_T ≈ N(0, I).
    assert s.alphas_cumprod[-1].item() == pytest.approx(4.0358e-5, rel=1e-3)


def test_cosine_schedule_matches_nichol_dhariwal_eq17() -> None:
    T, offset = 1000, 0.008
    s = NoiseSchedule.make("cosine", T)
    t = torch.arange(T, dtype=torch.float64)
    # ᾱ(t) = f(t) / f(0), f(t) = cos²(π/2 · (t/T + s) / (1 + s)); index t holds the paper's ᾱ_{t+1}.
    f = torch.cos(((t + 1) / T + offset) / (1 + offset) * math.pi / 2) ** 2
    closed = f / math.cos(offset / (1 + offset) * math.pi / 2) ** 2
    unclipped = s.betas < 0.999
    assert unclipped[:-1].all(), "only the very last beta may hit the 0.999 clip"
    torch.testing.assert_close(s.alphas_cumprod[unclipped], closed[unclipped], rtol=1e-9, atol=1e-12)
    zero = torch.zeros(1, dtype=torch.float64)
    torch.testing.assert_close(cosine_alpha_bar(zero), torch.ones_like(zero))
    assert s.betas.max().item() == pytest.approx(0.999)
    # Cosine destroys information more slowly in the middle than linear (Nichol & Dhariwal Fig. 5).
    assert s.alphas_cumprod[500] > NoiseSchedule.make("linear", T).alphas_cumprod[500] * 5


def test_posterior_is_the_product_of_gaussians() -> None:
    # q(x_{t-1} | x_t, x_0) ∝ N(x_{t-1}; √ᾱ_{t-1} x_0, 1 − ᾱ_{t-1}) · N(x_t; √α_t x_{t-1}, β_t):
    # the precisions add.
    s = NoiseSchedule.make("linear", 100)
    x0, x_t = torch.randn(5, 1, 2, 2), torch.randn(5, 1, 2, 2)
    t = torch.tensor([1, 2, 30, 70, 99])
    mean, var = s.q_posterior(x0, x_t, t)
    # The reference in float64: at t = 1 the two precisions are ~1e4 and their sum loses digits in float32.
    abar_prev, alpha, beta = (v[t].view(-1, 1, 1, 1) for v in (s.alphas_cumprod_prev, s.alphas, s.betas))
    precision = 1 / (1 - abar_prev) + alpha / beta
    torch.testing.assert_close(var.double(), (1 / precision).expand_as(var), rtol=1e-6, atol=0)
    expected_mean = (abar_prev.sqrt() * x0.double() / (1 - abar_prev) + alpha.sqrt() * x_t.double() / beta) / precision
    torch.testing.assert_close(mean.double(), expected_mean, rtol=1e-5, atol=1e-6)


def test_q_sample_and_predict_x0_invert_each_other() -> None:
    s = NoiseSchedule.make("cosine", 50)
    x0, noise = torch.rand(4, 3, 4, 4) * 2 - 1, torch.randn(4, 3, 4, 4)
    t = torch.tensor([0, 10, 25, 40])
    x_t = s.q_sample(x0, t, noise)
    torch.testing.assert_close(s.predict_x0(x_t, t, noise), x0, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="unknown schedule"):
        NoiseSchedule.make("sigmoid", 10)  # type: ignore[arg-type]
