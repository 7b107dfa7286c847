"""DDPM's variational bound on −log p(x_0) for 8-bit images (Ho et al. 2020, eq. 5 and Sec. 3.3).

With 0-indexed timesteps t = 0 .. T-1 the bound is

    −log p(x_0) ≤ L_T + Σ_{t=1}^{T-1} L_t + L_0,
    L_T = KL(q(x_T | x_0) ‖ N(0, I))                        (no network)
    L_t = E_{x_t ~ q} KL(q(x_{t-1} | x_t, x_0) ‖ p_θ(x_{t-1} | x_t))
    L_0 = −log p_θ(x_0 | x_1), a Gaussian integrated over the 8-bit bins (eq. 13).

Data are x_0 = 2k/255 − 1 in [-1, 1]; bins have width 2/255, so L_0 is a probability mass of
the 8-bit values and the bound is in nats per image with no Jacobian term: −bound ≤ 0.
Each L_t uses one draw of x_t, as in the paper, so even the full sum is a Monte Carlo estimate.
"""

from __future__ import annotations

import math

import torch

from genbench.api import normal_from_uniform, randn_tensor, uniform_per_item
from genbench_diffusion.samplers import EpsFn, Variance
from genbench_diffusion.schedule import NoiseSchedule


def normal_kl(mean1: torch.Tensor, logvar1: torch.Tensor, mean2: torch.Tensor, logvar2: torch.Tensor) -> torch.Tensor:
    """KL(N(mean1, e^logvar1) ‖ N(mean2, e^logvar2)), elementwise, in nats."""
    return 0.5 * (-1.0 + logvar2 - logvar1 + torch.exp(logvar1 - logvar2) + (mean1 - mean2) ** 2 * torch.exp(-logvar2))


def discretized_gaussian_log_likelihood(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """log P(x) of 8-bit values x in [-1, 1] under N(mean, e^{2 log_scale}) integrated over
    [x − 1/255, x + 1/255], with the edge bins extended to ±∞ (Ho et al. eq. 13). Elementwise."""
    inv_scale = torch.exp(-log_scale)
    upper = inv_scale * (x - mean + 1 / 255)
    lower = inv_scale * (x - mean - 1 / 255)
    log_cdf_upper = torch.special.log_ndtr(upper)  # bin (-∞, x + 1/255] for x = -1
    log_sf_lower = torch.special.log_ndtr(-lower)  # bin [x - 1/255, ∞) for x = 1
    mass = torch.special.ndtr(upper) - torch.special.ndtr(lower)
    log_mid = torch.log(mass.clamp(min=1e-12))  # floor as in Ho et al.'s code; a mass ≤ 1 either way
    return torch.where(x < -0.999, log_cdf_upper, torch.where(x > 0.999, log_sf_lower, log_mid))


def model_log_variance(schedule: NoiseSchedule, variance: Variance) -> torch.Tensor:
    """log σ²_t of p_θ(x_{t-1} | x_t) for every t: β_t ("large") or β̃_t ("small"), with β̃_1 at t = 0
    in both cases, as in Ho et al.'s code (β_0 would make the decoder of L_0 needlessly narrow)."""
    if variance == "large":
        return torch.cat([schedule.posterior_variance[1:2], schedule.betas[1:]]).log()
    return schedule.posterior_log_variance_clipped


def prior_kl(schedule: NoiseSchedule, x0: torch.Tensor) -> torch.Tensor:
    """L_T = KL(q(x_T | x_0) ‖ N(0, I)) summed over dimensions: (B,)."""
    abar = schedule.alphas_cumprod[-1].item()
    mean = math.sqrt(abar) * x0.double()
    logvar = torch.full_like(mean, math.log(1 - abar))
    return normal_kl(mean, logvar, torch.zeros_like(mean), torch.zeros_like(mean)).flatten(1).sum(1)


def vlb_term(
    eps_fn: EpsFn,
    schedule: NoiseSchedule,
    x0: torch.Tensor,
    t: torch.Tensor,
    *,
    variance: Variance,
    clip_x0: bool,
    generator: torch.Generator | None = None,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """L_t for each image at its own timestep t (B,): the KL for t ≥ 1, the decoder NLL for t = 0. Nats, (B,).

    x_t is drawn with ``noise`` (B, C, H, W) when given, else with noise from ``generator``.
    """
    if noise is None:
        noise = randn_tensor(tuple(x0.shape), generator=generator, device=x0.device)
    x_t = schedule.q_sample(x0, t, noise.to(x0.device, x0.dtype))
    x0_hat = schedule.predict_x0(x_t, t, eps_fn(x_t, t)).double()
    if clip_x0:
        x0_hat = x0_hat.clamp(-1, 1)
    x0, x_t = x0.double(), x_t.double()
    mean, _ = schedule.q_posterior(x0_hat, x_t, t, torch.float64)  # p_θ's mean: the posterior at x̂_0
    true_mean, _ = schedule.q_posterior(x0, x_t, t, torch.float64)
    logvar = NoiseSchedule.at(model_log_variance(schedule, variance), t, torch.float64)
    true_logvar = NoiseSchedule.at(schedule.posterior_log_variance_clipped, t, torch.float64)
    kl = normal_kl(true_mean, true_logvar, mean, logvar).flatten(1).sum(1)
    decoder_nll = -discretized_gaussian_log_likelihood(x0, mean, 0.5 * logvar).flatten(1).sum(1)
    return torch.where(t == 0, decoder_nll, kl)


def strata(num_timesteps: int, evaluations: int) -> list[tuple[int, int]]:
    """Split t = 1 .. T-1 into ``evaluations − 1`` contiguous strata [lo, hi), geometrically growing.

    The terms L_t fall steeply with t (roughly like 1/t), so the small timesteps get strata of
    one step each and are summed exactly, while wide strata cover the flat tail; this keeps the
    variance far below that of equal-width strata.
    """
    k = evaluations - 1
    edges = [1]
    for j in range(1, k):
        geometric = round(num_timesteps ** (j / k))
        # At least one step per stratum, and room left for the strata still to come.
        edges.append(min(max(geometric, edges[-1] + 1), num_timesteps - (k - j)))
    edges.append(num_timesteps)
    return list(zip(edges[:-1], edges[1:]))


@torch.inference_mode()
def negative_vlb(
    eps_fn: EpsFn,
    schedule: NoiseSchedule,
    x0: torch.Tensor,
    *,
    evaluations: int,
    variance: Variance = "large",
    clip_x0: bool = True,
    generator: torch.Generator | None = None,
    chunk: int = 64,
) -> torch.Tensor:
    """An unbiased estimate of the bound L_T + Σ L_t + L_0 in nats, (B,), from ``evaluations`` network calls.

    L_T is exact and L_0 is always evaluated. The sum over t = 1 .. T-1 is estimated by
    stratified sampling: the range is cut into ``evaluations − 1`` strata (:func:`strata`), one
    timestep is drawn uniformly in each (per image) and weighted by its stratum's size n:
    E[n · L_t] over the stratum is the stratum's sum, so the estimate is unbiased. With
    ``evaluations = T`` each stratum holds one timestep and this is the full sum the paper reports.

    All (image, timestep) pairs go through the network together, ``chunk`` images per call
    (memory and speed only). Each image draws its timesteps and noise in turn from
    ``generator`` (default: the global CPU generator, :func:`genbench.api.uniform_per_item`), so
    an image's estimate does not depend on the batch it is scored in.
    """
    num_timesteps = schedule.num_timesteps
    if not 2 <= evaluations <= num_timesteps:
        raise ValueError(f"evaluations must lie in 2..{num_timesteps} (the schedule's T), got {evaluations}")
    b, dims = x0.shape[0], x0[0].numel()
    bounds = strata(num_timesteps, evaluations)
    lo = torch.tensor([0] + [lo for lo, _ in bounds], dtype=torch.float64)  # (E,), L_0 first
    size = torch.tensor([1] + [hi - lo for lo, hi in bounds], dtype=torch.float64)  # stratum sizes: the weights
    # Images a group: all their E pairs are drawn at once, which bounds the noise held in memory.
    group = max(1, chunk // evaluations)
    totals = []
    for start in range(0, b, group):
        x = x0[start : start + group]
        g = x.shape[0]
        # Per image: E - 1 uniforms for its timesteps, then E noise images (one for each term).
        u = uniform_per_item(g, (evaluations - 1 + evaluations * dims,), generator=generator)
        t_u = torch.cat([torch.zeros(g, 1, dtype=torch.float64), u[:, : evaluations - 1]], dim=1)  # (g, E)
        t = torch.minimum(lo + torch.floor(t_u * size), lo + size - 1).long()  # t = 0 for L_0, else in [lo, hi)
        noise = normal_from_uniform(u[:, evaluations - 1 :]).view(g * evaluations, *x.shape[1:])
        pairs = x.repeat_interleave(evaluations, dim=0)  # (g*E, C, H, W), image-major
        t_flat = t.flatten().to(x.device)
        terms = torch.cat(
            [
                vlb_term(
                    eps_fn,
                    schedule,
                    pairs[i : i + chunk],
                    t_flat[i : i + chunk],
                    variance=variance,
                    clip_x0=clip_x0,
                    noise=noise[i : i + chunk],
                )
                for i in range(0, g * evaluations, chunk)
            ]
        ).view(g, evaluations)
        totals.append(prior_kl(schedule, x) + (terms * size.to(terms.device)).sum(dim=1))
    return torch.cat(totals)
