"""The variational bound: its pieces against closed forms, and the timestep estimator against the full sum."""

from __future__ import annotations

import math

import pytest
import torch
from genbench_diffusion.likelihood import (
    discretized_gaussian_log_likelihood,
    negative_vlb,
    normal_kl,
    prior_kl,
    strata,
)
from genbench_diffusion.schedule import NoiseSchedule
from genbench_diffusion.unet import UNet, guided_eps


def tiny_net() -> UNet:
    torch.manual_seed(0)
    net = UNet(in_channels=1, ch=8, ch_mult=(1, 2), num_res_blocks=1, attn_levels=(1,))
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.02 * torch.randn(p.shape, generator=g))
    return net.eval()


def eight_bit(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    """Random 8-bit images mapped to [-1, 1], edges included."""
    k = torch.randint(0, 256, shape, generator=torch.Generator().manual_seed(seed))
    k.view(-1)[:2] = torch.tensor([0, 255])
    return k.float() / 255 * 2 - 1


def test_discretized_gaussian_is_a_distribution_over_the_256_values() -> None:
    values = torch.arange(256, dtype=torch.float64) / 255 * 2 - 1
    for mean, scale in ((0.0, 0.01), (0.93, 0.3), (-1.2, 0.002), (0.5, 3.0)):
        logp = discretized_gaussian_log_likelihood(
            values, torch.full_like(values, mean), torch.full_like(values, math.log(scale))
        )
        assert (logp <= 0).all()
        assert logp.exp().sum().item() == pytest.approx(1.0, abs=1e-9)


def test_normal_kl_matches_torch_distributions() -> None:
    m1, m2 = torch.randn(10, dtype=torch.float64), torch.randn(10, dtype=torch.float64)
    lv1, lv2 = torch.randn(10, dtype=torch.float64), torch.randn(10, dtype=torch.float64)
    expected = torch.distributions.kl_divergence(
        torch.distributions.Normal(m1, (0.5 * lv1).exp()), torch.distributions.Normal(m2, (0.5 * lv2).exp())
    )
    torch.testing.assert_close(normal_kl(m1, lv1, m2, lv2), expected)


def test_strata_cover_every_timestep_once() -> None:
    for T, k in ((1000, 2), (1000, 20), (1000, 1000), (50, 7)):
        s = strata(T, k)
        assert len(s) == k - 1 and s[0][0] == 1 and s[-1][1] == T
        assert all(a[1] == b[0] and a[0] < a[1] for a, b in zip(s, s[1:]))
    assert strata(10, 10) == [(t, t + 1) for t in range(1, 10)]


def test_bound_of_an_oracle_denoiser_is_closed_form() -> None:
    # An ε-predictor that knows x_0 makes every KL term with the posterior variance zero, leaving
    # L_T + L_0 with the decoder N(x_0, β̃_1) integrated over each 8-bit bin (Ho et al. eq. 13).
    # The network sees (image, timestep) pairs in chunks, so the oracle knows one image, copied.
    schedule = NoiseSchedule.make("linear", 100)
    x0 = eight_bit((1, 1, 4, 4)).expand(3, 1, 4, 4)

    def oracle(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        abar = NoiseSchedule.at(schedule.alphas_cumprod, t)
        return (x_t - abar.sqrt() * x0[:1]) / (1 - abar).sqrt()

    gen = torch.Generator().manual_seed(0)
    bound = negative_vlb(oracle, schedule, x0, evaluations=100, variance="small", generator=gen)
    sigma = schedule.posterior_variance[1].sqrt().item()
    half = (1 / 255) / sigma
    inner = -math.log(math.erf(half / math.sqrt(2)))  # −log(Φ(h) − Φ(−h))
    edge = -math.log(0.5 * (1 + math.erf(half / math.sqrt(2))))  # −log Φ(h)
    n_edge = ((x0 == -1) | (x0 == 1)).flatten(1).sum(1).double()
    decoder = n_edge * edge + (16 - n_edge) * inner
    torch.testing.assert_close(bound, prior_kl(schedule, x0) + decoder, rtol=1e-6, atol=1e-6)


def test_bound_of_a_network_is_a_finite_log_probability() -> None:
    schedule = NoiseSchedule.make("linear", 50)
    x0 = eight_bit((4, 1, 8, 8))
    for variance in ("large", "small"):
        bound = negative_vlb(guided_eps(tiny_net(), None, 1.0), schedule, x0, evaluations=10, variance=variance)
        assert bound.shape == (4,) and torch.isfinite(bound).all()
        assert (bound > 0).all()  # −log P of discrete data: log P ≤ 0
    with pytest.raises(ValueError):
        negative_vlb(guided_eps(tiny_net(), None, 1.0), schedule, x0, evaluations=1)


def test_timestep_estimator_agrees_with_the_full_sum_in_expectation() -> None:
    # One image repeated: each copy gets its own x_t noise and timesteps, so the copies are
    # independent draws of the same estimator and their mean has a known standard error.
    schedule = NoiseSchedule.make("linear", 40)
    eps = guided_eps(tiny_net(), None, 1.0)
    x0 = eight_bit((1, 1, 8, 8)).expand(400, 1, 8, 8)
    gen = torch.Generator().manual_seed(0)
    full = negative_vlb(eps, schedule, x0, evaluations=40, generator=gen)
    estimate = negative_vlb(eps, schedule, x0, evaluations=8, generator=gen)
    standard_error = math.sqrt(full.var().item() / len(full) + estimate.var().item() / len(estimate))
    assert abs(full.mean().item() - estimate.mean().item()) < 4 * standard_error
    # The price of fewer network calls is variance (documented in the README).
    assert estimate.std() > full.std()
