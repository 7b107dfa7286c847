"""Samplers: loops that turn an ε-predictor and a noise schedule into images in [-1, 1].

A sampler never sees a network, only ``eps_fn(x_t, t) -> ε̂``, so one trained model can be
sampled with either of them, chosen at evaluation time (``--set sampler=ddim --set steps=50``).

Both samplers draw their randomness in the same order from the given generator: x_T first,
then one noise tensor per step except the last. DDIM with η = 1 therefore reproduces the
DDPM sampler with posterior variance β̃_t ("small") exactly, for the same seed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch

from genbench.api import randn_tensor
from genbench_diffusion.schedule import NoiseSchedule, posterior_between, x0_from_eps

EpsFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x_t (B,C,H,W), t (B,) int64) -> ε̂ (B,C,H,W)
Variance = Literal["large", "small"]


def timestep_subsequence(num_timesteps: int, steps: int) -> list[int]:
    """``steps`` timesteps t_i = i · ⌊T / steps⌋, the "uniform" choice of Song et al. (2021, App. D.2)."""
    if not 1 <= steps <= num_timesteps:
        raise ValueError(f"steps must lie in 1..{num_timesteps} (the schedule's T), got {steps}")
    stride = num_timesteps // steps
    return [i * stride for i in range(steps)]


class _Sampler:
    """The loop every sampler shares: draw x_T, walk the timesteps from the noisiest down,
    predict x̂_0 (clipped to the data range if asked), and let :meth:`step` make x_{t_{i-1}}."""

    def __init__(self, schedule: NoiseSchedule, *, steps: int, clip_x0: bool) -> None:
        self.schedule = schedule
        self.timesteps = timestep_subsequence(schedule.num_timesteps, steps)
        self.clip_x0 = clip_x0

    @torch.no_grad()
    def __call__(
        self,
        eps_fn: EpsFn,
        shape: tuple[int, ...],
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
    ) -> torch.Tensor:
        device = torch.device(device)
        # ᾱ as Python floats, read once: indexing a table on the GPU with float() each step would
        # wait for the network's previous call every time.
        ts, abar = self.timesteps, self.schedule.alphas_cumprod.tolist()

        def noise() -> torch.Tensor:
            return randn_tensor(shape, generator=generator, device=device)

        x = noise()  # x_T ~ N(0, I)
        for i in reversed(range(len(ts))):
            a_t = abar[ts[i]]
            a_prev = abar[ts[i - 1]] if i > 0 else 1.0
            eps = eps_fn(x, torch.full((shape[0],), ts[i], device=device, dtype=torch.long))
            x0 = x0_from_eps(x, eps, a_t)
            if self.clip_x0:  # Ho et al.'s sampler clips x̂_0 to the data range
                x0 = x0.clamp(-1, 1)
            x = self.step(x, x0, eps, a_t, a_prev, last=i == 0, noise=noise)
        return x

    def step(
        self,
        x: torch.Tensor,
        x0: torch.Tensor,
        eps: torch.Tensor,
        a_t: float,
        a_prev: float,
        *,
        last: bool,
        noise: Callable[[], torch.Tensor],
    ) -> torch.Tensor:
        """x_{t_{i-1}} from x_{t_i}, the predicted x̂_0 and ε̂, at noise levels ᾱ_{t_i} and ᾱ_{t_{i-1}}."""
        raise NotImplementedError


class DDPMSampler(_Sampler):
    """Ancestral sampling, Ho et al. (2020) Algorithm 2.

    With ``steps < T`` it samples the shorter chain over a subsequence of timesteps whose
    betas are β'_i = 1 − ᾱ_{t_i} / ᾱ_{t_{i-1}} ("respacing", Nichol & Dhariwal 2021, Sec. 4).
    ``variance`` is σ²_t: "large" = β_t (Ho et al.'s CIFAR-10 choice), "small" = β̃_t, the
    posterior variance; the paper found both give similar samples (Sec. 3.2).
    """

    def __init__(
        self, schedule: NoiseSchedule, *, steps: int | None = None, variance: Variance = "large", clip_x0: bool = True
    ) -> None:
        super().__init__(schedule, steps=steps or schedule.num_timesteps, clip_x0=clip_x0)
        self.variance = variance

    def step(
        self,
        x: torch.Tensor,
        x0: torch.Tensor,
        eps: torch.Tensor,
        a_t: float,
        a_prev: float,
        *,
        last: bool,
        noise: Callable[[], torch.Tensor],
    ) -> torch.Tensor:
        mean, posterior_var = posterior_between(x0, x, a_t, a_prev)  # μ̃(x_t, x̂_0), Ho et al. eq. 7
        if last:
            return mean  # the last step adds no noise (Algorithm 2: z = 0 for t = 1)
        var = 1.0 - a_t / a_prev if self.variance == "large" else posterior_var
        return mean + math.sqrt(var) * noise()


class DDIMSampler(_Sampler):
    """Song et al. (2021) generalised (non-Markovian) sampler over ``steps`` timesteps.

    η = 0 is the deterministic DDIM; η = 1 uses σ_t of the DDPM posterior, and then equals
    :class:`DDPMSampler` with ``variance="small"`` (same seed, same steps).
    """

    def __init__(self, schedule: NoiseSchedule, *, steps: int, eta: float = 0.0, clip_x0: bool = True) -> None:
        super().__init__(schedule, steps=steps, clip_x0=clip_x0)
        self.eta = eta

    def step(
        self,
        x: torch.Tensor,
        x0: torch.Tensor,
        eps: torch.Tensor,
        a_t: float,
        a_prev: float,
        *,
        last: bool,
        noise: Callable[[], torch.Tensor],
    ) -> torch.Tensor:
        if self.clip_x0:
            # Re-derive ε from the clipped x̂_0 so that the step stays consistent with it.
            eps = (x - math.sqrt(a_t) * x0) / math.sqrt(1 - a_t)
        # σ_t(η), Song et al. eq. 16.
        sigma = self.eta * math.sqrt((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev))
        # x_{t-1} = √ᾱ_{t-1} x̂_0 + √(1 − ᾱ_{t-1} − σ²) ε̂ + σ z, Song et al. eq. 12.
        x = math.sqrt(a_prev) * x0 + math.sqrt(max(1 - a_prev - sigma**2, 0.0)) * eps
        if not last and self.eta > 0:
            x = x + sigma * noise()
        return x


Sampler = DDPMSampler | DDIMSampler


def make_sampler(
    name: str,
    schedule: NoiseSchedule,
    *,
    steps: int,
    eta: float = 0.0,
    variance: Variance = "large",
    clip_x0: bool = True,
) -> Sampler:
    """The sampler a model's evaluation settings ask for."""
    if name == "ddpm":
        return DDPMSampler(schedule, steps=steps, variance=variance, clip_x0=clip_x0)
    if name == "ddim":
        return DDIMSampler(schedule, steps=steps, eta=eta, clip_x0=clip_x0)
    raise ValueError(f"unknown sampler {name!r}: use 'ddpm' or 'ddim'")
