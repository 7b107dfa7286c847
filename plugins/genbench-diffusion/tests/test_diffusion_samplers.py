"""The DDPM and DDIM samplers: equivalence where the maths says so, determinism, golden values."""

from __future__ import annotations

import pytest
import torch
from genbench_diffusion.samplers import DDIMSampler, DDPMSampler, make_sampler, timestep_subsequence
from genbench_diffusion.schedule import NoiseSchedule
from genbench_diffusion.unet import UNet, guided_eps

from genbench.testing import GOLDEN_RTOL, float64


def tiny_net() -> UNet:
    """A fixed random U-Net whose output is not zero (the real init zeroes the last layers)."""
    torch.manual_seed(0)
    net = UNet(in_channels=1, ch=8, ch_mult=(1, 2), num_res_blocks=1, attn_levels=(1,), num_classes=10)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return net.eval()


def analytic_eps(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """A smooth stand-in for a network, so the sampler goldens do not depend on convolution kernels."""
    return torch.tanh(x) * torch.cos(t.float() / 7.0)[:, None, None, None] + 0.1


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_timestep_subsequence() -> None:
    assert timestep_subsequence(1000, 50) == list(range(0, 1000, 20))  # Song et al.'s uniform skip
    assert timestep_subsequence(1000, 1000) == list(range(1000))
    assert len(timestep_subsequence(1000, 30)) == 30
    with pytest.raises(ValueError):
        timestep_subsequence(100, 101)


@pytest.mark.parametrize("steps", [50, 10])
@pytest.mark.parametrize("clip_x0", [True, False])
def test_ddim_eta_one_equals_ddpm_with_posterior_variance(steps: int, clip_x0: bool) -> None:
    # With σ_t(η=1)² = β̃_t, DDIM's update (Song et al. eq. 12) is the DDPM posterior step; both
    # samplers draw x_T and then one noise tensor per step from the same generator, so the same seed
    # gives the same chain, hence the same distribution.
    schedule = NoiseSchedule.make("linear", 50)
    eps = guided_eps(tiny_net(), None, 1.0)
    shape = (4, 1, 8, 8)
    ddpm = DDPMSampler(schedule, steps=steps, variance="small", clip_x0=clip_x0)(eps, shape, generator=seeded())
    ddim = DDIMSampler(schedule, steps=steps, eta=1.0, clip_x0=clip_x0)(eps, shape, generator=seeded())
    torch.testing.assert_close(ddim, ddpm, atol=1e-4, rtol=1e-4)
    # Not vacuous: the "large" variance σ² = β_t is a different chain...
    large = DDPMSampler(schedule, steps=steps, variance="large", clip_x0=clip_x0)(eps, shape, generator=seeded())
    assert (large - ddpm).abs().max() > 1e-2
    # ...and so is DDIM with η = 0.
    det = DDIMSampler(schedule, steps=steps, eta=0.0, clip_x0=clip_x0)(eps, shape, generator=seeded())
    assert (det - ddpm).abs().max() > 1e-2


def test_ddim_eta_zero_is_deterministic_given_x_T() -> None:
    schedule = NoiseSchedule.make("cosine", 100)
    eps = guided_eps(tiny_net(), torch.tensor([1, 2, 3]), 2.0)
    shape = (3, 1, 8, 8)
    sampler = DDIMSampler(schedule, steps=20, eta=0.0)
    gen = seeded(7)
    a = sampler(eps, shape, generator=gen)
    b = sampler(eps, shape, generator=seeded(7))
    assert torch.equal(a, b)
    # The only randomness drawn is x_T: the generator ends where one draw of x_T leaves it.
    reference = seeded(7)
    torch.randn(shape, generator=reference)
    assert torch.equal(gen.get_state(), reference.get_state())
    # Whereas the ancestral sampler draws fresh noise at every step.
    gen = seeded(7)
    DDPMSampler(schedule, steps=20)(eps, shape, generator=gen)
    assert not torch.equal(gen.get_state(), reference.get_state())


def test_cpu_generator_drives_the_same_samples_on_any_device() -> None:
    schedule = NoiseSchedule.make("linear", 20)
    sampler = DDPMSampler(schedule)
    a = sampler(analytic_eps, (2, 1, 3, 3), generator=seeded(3), device="cpu")
    b = sampler(analytic_eps, (2, 1, 3, 3), generator=seeded(3), device=torch.device("cpu"))
    assert torch.equal(a, b)
    assert sampler(analytic_eps, (2, 1, 3, 3), generator=seeded(4)).ne(a).any()


# Golden values: any change to the sampler arithmetic (order of operations, timestep choice,
# noise order) moves these numbers. Recomputed only on purpose, with the reason in the commit.
GOLDEN = {
    "ddpm_large_all": [0.8978053, 0.9326907, -0.6397421, 0.3709832, -1.0, -0.9740173, 0.0859286, -0.1432720],
    "ddpm_small_10": [0.8901670, -0.0539571, -0.9871131, -0.6652950, -0.8848853, -0.4235145, 0.9540792, 0.4434385],
    "ddim_eta0_20": [1.0, -0.5566670, -1.0, 0.7052276, -0.9988937, -1.0, 0.4688590, 0.9272381],
    "ddim_eta05_10_noclip": [
        1.9338515,
        -0.2769565,
        -4.2538009,
        0.0785732,
        -1.9911678,
        -1.4465964,
        0.7348232,
        0.9242975,
    ],
}


@pytest.mark.parametrize(
    ("name", "sampler"),
    [
        ("ddpm_large_all", lambda s: DDPMSampler(s, variance="large")),
        ("ddpm_small_10", lambda s: DDPMSampler(s, steps=10, variance="small")),
        ("ddim_eta0_20", lambda s: DDIMSampler(s, steps=20, eta=0.0)),
        ("ddim_eta05_10_noclip", lambda s: DDIMSampler(s, steps=10, eta=0.5, clip_x0=False)),
    ],
)
def test_sampler_golden_values(name: str, sampler) -> None:  # type: ignore[no-untyped-def]
    x = sampler(NoiseSchedule.make("linear", 100))(analytic_eps, (2, 1, 2, 2), generator=seeded(0))
    torch.testing.assert_close(x.flatten(), torch.tensor(GOLDEN[name]), atol=1e-5, rtol=1e-5)


def test_guided_ddim_on_a_fixed_net_golden() -> None:
    # The U-Net, classifier-free guidance and DDIM together, on the cosine schedule; in float64, so
    # the convolutions' kernels (CPU, thread count, matmul precision) do not move the values.
    with float64():
        sampler = DDIMSampler(NoiseSchedule.make("cosine", 50), steps=10, eta=0.0, clip_x0=False)
        x = sampler(guided_eps(tiny_net(), torch.tensor([3, 7]), 2.0), (2, 1, 8, 8), generator=seeded(0))
    expected = [-19.05197271239914, -5.069821882355805, -8.097050693682169, 7.090353245901905]
    expected += [-9.482486235752548, -0.2948423344574489, 8.843817128514688, -0.4486064509643023]
    assert x.dtype == torch.float64
    torch.testing.assert_close(
        x[:, 0, 0, :4].flatten(), torch.tensor(expected, dtype=torch.float64), atol=0, rtol=GOLDEN_RTOL
    )
    assert x.sum().item() == pytest.approx(-121.06216857190559, rel=GOLDEN_RTOL)


def test_guidance_combines_conditional_and_unconditional_predictions() -> None:
    net = tiny_net()
    x, t, y = torch.randn(3, 1, 8, 8), torch.tensor([5, 50, 500]), torch.tensor([0, 4, 9])
    with torch.no_grad():
        cond, uncond = net(x, t, y), net(x, t, None)
        torch.testing.assert_close(guided_eps(net, y, 1.0)(x, t), cond)
        torch.testing.assert_close(guided_eps(net, y, 0.0)(x, t), uncond)
        torch.testing.assert_close(guided_eps(net, None, 3.0)(x, t), uncond)
        torch.testing.assert_close(guided_eps(net, y, 3.0)(x, t), uncond + 3.0 * (cond - uncond), atol=1e-5, rtol=1e-5)
    assert (cond - uncond).abs().max() > 1e-3  # the label matters, so the checks above can fail


def test_make_sampler() -> None:
    schedule = NoiseSchedule.make("linear", 10)
    assert isinstance(make_sampler("ddpm", schedule, steps=10), DDPMSampler)
    ddim = make_sampler("ddim", schedule, steps=5, eta=0.3)
    assert isinstance(ddim, DDIMSampler) and ddim.eta == 0.3 and len(ddim.timesteps) == 5
    with pytest.raises(ValueError, match="unknown sampler"):
        make_sampler("euler", schedule, steps=10)
