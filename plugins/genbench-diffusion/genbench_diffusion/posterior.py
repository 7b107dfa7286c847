"""Posterior sampling with a trained unconditional diffusion model: restoring degraded images.

The ε-network trained by ``ddpm`` is the prior; the measurement y enters only at sampling time,
one published method per operator, over the ancestral chain respaced to the model's ``steps``:

- **inpainting** (random pixels, central box): RePaint (Lugmayr et al. 2022, Algorithm 1). At each
  step the known pixels are the measurement noised to that step's level, the unknown ones the
  model's ancestral step; ``resample`` > 1 diffuses the merged image back one step and repeats
  (RePaint's U, jump length 1), so the two halves harmonise.
- **downsampling**: DDNM (Wang, Yu & Zhang 2023, Algorithm 1): each predicted x̂_0 is corrected
  by range-null-space decomposition, x̂_0 + A⁺(y − A x̂_0), with A average pooling and A⁺ its
  pseudo-inverse, nearest-neighbour upsampling (A A⁺ = I), then the usual posterior step.
- **Gaussian noise**: y = x + σε is exactly the forward process at the step t* whose
  (1 − ᾱ)/ᾱ equals the noise variance (on the network's [-1, 1] scale), up to the factor √ᾱ:
  x_{t*} = √ᾱ_{t*} y is a draw of q(x_{t*} | x), and the reverse chain from t* samples
  p(x | y). This is DDRM's (Kawar et al. 2022) H = I case with its chain started at y's noise level.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from genbench.api import randn_tensor
from genbench.api.restoration import Measurements
from genbench_diffusion.samplers import timestep_subsequence
from genbench_diffusion.schedule import NoiseSchedule, posterior_between, x0_from_eps

EpsFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def noise_level_step(schedule: NoiseSchedule, sigma: float) -> int:
    """The timestep whose (1 − ᾱ_t) / ᾱ_t is nearest (2σ)², σ on the [0, 1] scale."""
    abar = schedule.alphas_cumprod
    ratio = (1 - abar) / abar
    return int((ratio - (2 * sigma) ** 2).abs().argmin())


@torch.no_grad()
def restore(
    eps_fn: EpsFn,
    schedule: NoiseSchedule,
    m: Measurements,
    k: int,
    *,
    steps: int,
    resample: int = 1,
    clip_x0: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``k`` posterior samples per measurement, (N, k, C, H, W) in [0, 1]."""
    device = m.y.device
    n = len(m)
    c, h, w = m.shape
    shape = (n * k, c, h, w)
    reps = m.y.repeat_interleave(k, 0) * 2 - 1  # (N*k, C, h, w) in [-1, 1] (noise: beyond it)
    mask = None if m.mask is None else m.mask.repeat_interleave(k, 0)
    op = m.op

    def noise() -> torch.Tensor:
        return randn_tensor(shape, generator=generator, device=device)

    abar = schedule.alphas_cumprod.tolist()
    ts = timestep_subsequence(schedule.num_timesteps, steps)
    if op.op == "noise":
        start = noise_level_step(schedule, op.sigma)
        ts = [t for t in ts if t < start] + [start]
        x = math.sqrt(abar[start]) * reps  # exactly a draw of q(x_t* | x)
    else:
        x = noise()
    up = op.factor if op.op == "downsample" else 1
    y_full = F.interpolate(reps, scale_factor=up, mode="nearest") if up > 1 else reps  # A⁺ y

    for i in reversed(range(len(ts))):
        a_t = abar[ts[i]]
        a_prev = abar[ts[i - 1]] if i > 0 else 1.0
        t = torch.full((len(x),), ts[i], device=device, dtype=torch.long)
        for u in range(resample if mask is not None else 1):
            x0 = x0_from_eps(x, eps_fn(x, t), a_t)
            if clip_x0:
                x0 = x0.clamp(-1, 1)
            if op.op == "downsample":  # DDNM: x̂_0 + A⁺(y − A x̂_0)
                x0 = x0 - F.interpolate(F.avg_pool2d(x0, up), scale_factor=up, mode="nearest") + y_full
            mean, var = posterior_between(x0, x, a_t, a_prev)
            x_prev = mean if i == 0 else mean + math.sqrt(var) * noise()
            if mask is not None:  # RePaint: known pixels from the measurement at this level
                known = math.sqrt(a_prev) * reps + (math.sqrt(1 - a_prev) * noise() if i > 0 else 0.0)
                x_prev = mask * known + (1 - mask) * x_prev
            if u < resample - 1 and i > 0:  # diffuse back to t_i and resample
                x = math.sqrt(a_t / a_prev) * x_prev + math.sqrt(1 - a_t / a_prev) * noise()
            else:
                x = x_prev
    return ((x + 1) / 2).clamp(0, 1).float().unflatten(0, (n, k))
