"""The forward (noising) process: betas, their cumulative products and the posterior q(x_{t-1} | x_t, x_0).

Timesteps are 0-indexed, t = 0 .. T-1, as in Ho et al.'s code: ``alphas_cumprod[t]`` is the
paper's ᾱ_{t+1}. Values are kept in float64 so that ᾱ_t near 0 and 1 stay exact;
:meth:`NoiseSchedule.at` gathers them as float32 for a batch of timesteps.

The tables are (non-persistent) buffers of an ``nn.Module``: a model that holds the schedule as a
submodule moves them to its device once, with ``model.to(device)``, and a training step gathers
them with the timesteps on that device. Indexing a CPU table with ``t.cpu()`` instead would copy
t to the host and wait for the GPU on every step. Checkpoints do not carry the tables: they are
rebuilt from the config.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

ScheduleName = Literal["linear", "cosine"]


def linear_betas(timesteps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """β_t rising linearly from 1e-4 to 0.02 over T = 1000 steps (Ho et al. 2020, Sec. 4)."""
    return torch.linspace(beta_start, beta_end, timesteps, dtype=torch.float64)


def cosine_alpha_bar(u: torch.Tensor, s: float = 0.008) -> torch.Tensor:
    """ᾱ(u) = f(u) / f(0), f(u) = cos²(π/2 · (u + s) / (1 + s)), u = t / T (Nichol & Dhariwal 2021, eq. 17)."""

    def f(v: torch.Tensor) -> torch.Tensor:
        return torch.cos((v + s) / (1 + s) * math.pi / 2) ** 2

    return f(u) / f(torch.zeros_like(u))


def cosine_betas(timesteps: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """β_t = 1 − ᾱ_t / ᾱ_{t−1} of the cosine schedule, clipped at 0.999 to avoid a singular last step
    (Nichol & Dhariwal 2021, Sec. 3.2)."""
    u = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
    abar = cosine_alpha_bar(u, s)
    return (1 - abar[1:] / abar[:-1]).clamp(max=max_beta)


class NoiseSchedule(nn.Module):
    """q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I) and the quantities derived from β_1..β_T, as float64 buffers."""

    betas: torch.Tensor
    alphas: torch.Tensor
    alphas_cumprod: torch.Tensor  # ᾱ_t
    alphas_cumprod_prev: torch.Tensor  # ᾱ_{t-1}, with ᾱ_{-1} = 1
    posterior_variance: torch.Tensor  # β̃_t
    posterior_coef_x0: torch.Tensor
    posterior_coef_xt: torch.Tensor
    posterior_log_variance_clipped: torch.Tensor

    def __init__(self, betas: torch.Tensor) -> None:
        super().__init__()
        betas = betas.to(torch.float64)
        self.num_timesteps = len(betas)
        alphas = 1.0 - betas
        alphas_cumprod = torch.cumprod(alphas, dim=0)
        alphas_cumprod_prev = torch.cat([torch.ones(1, dtype=torch.float64, device=betas.device), alphas_cumprod[:-1]])
        # Posterior q(x_{t-1} | x_t, x_0) = N(coef_x0 x_0 + coef_xt x_t, β̃_t I) (Ho et al. eqs. 6-7).
        posterior_variance = betas * (1 - alphas_cumprod_prev) / (1 - alphas_cumprod)
        # β̃_0 = 0; like Ho et al.'s code, use β̃_1 at t = 0 so that logs stay finite.
        clipped = torch.cat([posterior_variance[1:2], posterior_variance[1:]])
        tables = {
            "betas": betas,
            "alphas": alphas,
            "alphas_cumprod": alphas_cumprod,
            "alphas_cumprod_prev": alphas_cumprod_prev,
            "posterior_variance": posterior_variance,
            "posterior_coef_x0": betas * alphas_cumprod_prev.sqrt() / (1 - alphas_cumprod),
            "posterior_coef_xt": (1 - alphas_cumprod_prev) * alphas.sqrt() / (1 - alphas_cumprod),
            "posterior_log_variance_clipped": clipped.log(),
        }
        for name, value in tables.items():
            self.register_buffer(name, value, persistent=False)

    @classmethod
    def make(
        cls, name: ScheduleName, timesteps: int, *, beta_start: float = 1e-4, beta_end: float = 0.02
    ) -> NoiseSchedule:
        if name == "linear":
            return cls(linear_betas(timesteps, beta_start, beta_end))
        if name == "cosine":
            return cls(cosine_betas(timesteps))
        raise ValueError(f"unknown schedule {name!r}: use 'linear' or 'cosine'")

    @staticmethod
    def at(values: torch.Tensor, t: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """values[t] as ``dtype`` on t's device, shaped (B, 1, 1, 1) to broadcast over images.

        A gather on t's device: no host round trip when ``values`` already lives there (the
        schedule's buffers after ``model.to(device)``); otherwise the table is copied over first.
        """
        return values.to(t.device)[t].to(dtype).view(-1, 1, 1, 1)

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε (Ho et al. eq. 4)."""
        abar = self.at(self.alphas_cumprod, t)
        return abar.sqrt() * x0 + (1 - abar).sqrt() * noise

    def predict_x0(self, x_t: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """x̂_0 = (x_t − √(1 − ᾱ_t) ε̂) / √ᾱ_t, eq. 4 solved for x_0."""
        return x0_from_eps(x_t, eps, self.at(self.alphas_cumprod, t))

    def q_posterior(
        self, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, dtype: torch.dtype = torch.float32
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance of q(x_{t-1} | x_t, x_0), coefficients gathered as ``dtype``."""
        mean = self.at(self.posterior_coef_x0, t, dtype) * x0 + self.at(self.posterior_coef_xt, t, dtype) * x_t
        return mean, self.at(self.posterior_variance, t, dtype)


def x0_from_eps(x_t: torch.Tensor, eps: torch.Tensor, abar: torch.Tensor | float) -> torch.Tensor:
    """x̂_0 = (x_t − √(1 − ᾱ) ε̂) / √ᾱ for a noise level ᾱ (a float, or a tensor that broadcasts)."""
    return (x_t - (1 - abar) ** 0.5 * eps) / abar**0.5


def posterior_between(
    x0: torch.Tensor, x_t: torch.Tensor, abar_t: float, abar_prev: float
) -> tuple[torch.Tensor, float]:
    """Mean and variance of q(x_s | x_t, x_0) between two noise levels ᾱ_t < ᾱ_s of a (respaced) chain.

    With β = 1 − ᾱ_t / ᾱ_s this is Ho et al.'s eq. 7 for one step of the chain whose betas are
    the respaced ones (Nichol & Dhariwal 2021, Sec. 4); for consecutive timesteps it is q_posterior.
    """
    beta = 1.0 - abar_t / abar_prev
    coef_x0 = math.sqrt(abar_prev) * beta / (1 - abar_t)
    coef_xt = math.sqrt(1 - beta) * (1 - abar_prev) / (1 - abar_t)
    return coef_x0 * x0 + coef_xt * x_t, beta * (1 - abar_prev) / (1 - abar_t)
