"""The likelihood bounds before and after their vectorisation (issue 28), at MNIST's shape, on one thread.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bounds_speed.py [--images 32] [--ddpm-images 500]

For each model (freshly initialised: the cost does not depend on the weights; random 8-bit
images) it times the implementation that shipped before (kept below, with the chunk sizes it
used at eval.batch_size 500) and today's code, and prints CPU seconds per image (process time: on a
shared machine wall time measures the other users too), the
speed-up, and the largest relative difference of the two given the *same* normal draws. The
new code draws its noise image by image (batch-size independent), so on the real evaluation the
values are another draw of the same estimator; the last column gives the mean of both draws with
the standard error, to show they agree within their Monte Carlo interval.

- vae, cvae: the IWAE bound, K = 64 (cvae without labels: the class marginal, 10 decodes per z).
  Old: sample-major passes of K x B pairs (2048 pairs at 32 images, as 2000 at a batch of 500),
  cvae one decoder pass per class. New: image-major passes of 256 decodes, cvae's classes together.
- chunk-only changes (the same code, the whole batch of ``--ddpm-images`` in one pass as before,
  then in chunks): vae's and ldm's reconstructions, glow's and cglow's likelihood (cglow: the
  class marginal, 10 flow passes per image).
- ddpm: the stratified bound (``--nll-timesteps`` calls per image). Old: one U-Net call per
  stratum on the whole batch (500 at eval.batch_size 500). New: (image, timestep) pairs in calls
  of 64. And sampling (DDIM, ``--steps``): one call of 500 per step, then calls of 64.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from collections.abc import Callable

import torch
from genbench_diffusion.ddpm import DDPM
from genbench_diffusion.ldm import LDM
from genbench_diffusion.likelihood import negative_vlb, prior_kl, strata, vlb_term
from genbench_diffusion.unet import guided_eps
from genbench_flow.glow import ConditionalGlow, Glow
from genbench_vae.cvae import CVAE
from genbench_vae.vae import VAE, gaussian_log_prob

from genbench.api import normal_from_uniform
from genbench.api.dataset import DataInfo

MNIST = DataInfo("mnist", (1, 28, 28), 10)


# -- the implementations before issue 28 (2026-12-05), their draws given ----------------------


def old_iwae(model: VAE, x: torch.Tensor, eps: torch.Tensor, iwae_batch: int = 2048) -> torch.Tensor:
    """eps (K, B, latent), sample-major as the old code drew it."""
    b, k_total = x.shape[0], eps.shape[0]
    mean, logvar = model._posterior(x)
    std = torch.exp(0.5 * logvar)
    per_chunk = max(1, iwae_batch // b)
    log_w = []
    for start in range(0, k_total, per_chunk):
        k = min(per_chunk, k_total - start)
        z = mean + std * eps[start : start + k]
        log_q = gaussian_log_prob(z, mean, logvar)
        log_prior = gaussian_log_prob(z, torch.zeros_like(z), torch.zeros_like(z))
        xs, zs = x.repeat(k, 1, 1, 1), z.flatten(0, 1)
        if isinstance(model, CVAE):  # no label: one decoder pass per class
            per_class = [
                VAE._log_px_given_z(model, xs, zs, model._condition(torch.full((len(xs),), c)))
                for c in range(model.info.num_classes)
            ]
            log_px = torch.logsumexp(torch.stack(per_class), dim=0) - math.log(model.info.num_classes)
        else:
            log_px = VAE._log_px_given_z(model, xs, zs, None)
        log_w.append(log_px.view(k, b) + log_prior - log_q)
    return torch.logsumexp(torch.cat(log_w), dim=0) - math.log(k_total)


def old_vlb(model: DDPM, x0: torch.Tensor, ts: list[torch.Tensor], noises: list[torch.Tensor]) -> torch.Tensor:
    """One U-Net call per stratum on the whole batch; (B,) timesteps and noise per stratum given."""
    eps_fn, schedule, evaluations = guided_eps(model.net, None, 1.0), model.schedule, len(ts)

    def term(t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return vlb_term(eps_fn, schedule, x0, t, variance="large", clip_x0=True, noise=noise.view_as(x0))

    total = prior_kl(schedule, x0) + term(ts[0], noises[0])
    for j, (lo, hi) in enumerate(strata(schedule.num_timesteps, evaluations), start=1):
        total = total + (hi - lo) * term(ts[j], noises[j])
    return total


def vlb_draws(b: int, evaluations: int, dims: int, seed: int, num_timesteps: int) -> tuple[list, list]:
    """The draws the new code makes per image (E − 1 uniforms for t, then E noise images), per stratum."""
    gen = torch.Generator().manual_seed(seed)
    u = torch.rand(b, evaluations - 1 + evaluations * dims, generator=gen, dtype=torch.float64)
    noise = normal_from_uniform(u[:, evaluations - 1 :]).view(b, evaluations, dims).float()
    ts = [torch.zeros(b, dtype=torch.long)]
    for j, (lo, hi) in enumerate(strata(num_timesteps, evaluations)):
        ts.append(torch.clamp(lo + torch.floor(u[:, j] * (hi - lo)).long(), max=hi - 1))
    return ts, [noise[:, j] for j in range(evaluations)]


# -- timing ------------------------------------------------------------------------------------


def timed(fn: Callable[[], torch.Tensor], reps: int) -> tuple[float, torch.Tensor]:
    """Best of ``reps`` CPU times of this process (one thread: robust to other processes taking turns on
    a shared machine, unlike wall time) and the last result."""
    best, out = math.inf, torch.empty(0)
    for _ in range(reps):
        start = time.process_time()
        with torch.inference_mode():
            out = fn()
        best = min(best, time.process_time() - start)
    return best, out


def row(name: str, n: int, old: float, new: float, rel: float | None, draws: str) -> None:
    rel_s = "-" if rel is None else f"{rel:.1e}"
    print(f"{name:34s} {old / n:9.4f} {new / n:9.4f} {old / new:6.2f}x {rel_s:>9s}")
    print(f"    {draws}")


def mean_se(v: torch.Tensor) -> str:
    v = v.double()
    return f"{float(v.mean()):.2f}±{float(v.std() / math.sqrt(len(v))):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=32, help="images of the vae and cvae bounds")
    parser.add_argument("--ddpm-images", type=int, default=500, help="images of the ddpm bound and samples")
    parser.add_argument("--nll-timesteps", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3, help="DDIM steps of the sampling comparison")
    parser.add_argument("--reps", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread; CPU seconds per image, best of {args.reps}")
    print(f"{'':34s} {'old s/img':>9s} {'new s/img':>9s} {'speed':>7s} {'max rel':>9s}")
    print("    (max rel: largest relative difference given the same draws)")

    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (args.images, 1, 28, 28), generator=gen).float() / 255
    for cls in (VAE, CVAE):
        torch.manual_seed(0)
        model = cls(cls.default_config(MNIST), MNIST).eval()
        k, latent = model.config.iwae_k, model.config.latent_dim
        eps = torch.randn(k, args.images, latent, generator=torch.Generator().manual_seed(1))
        mean, logvar = (t.detach() for t in model._posterior(x))
        t_old, v_old = timed(lambda: old_iwae(model, x, eps), args.reps)  # noqa: B023
        t_new, v_new = timed(
            lambda: model._iwae_bound_from_noise(x, None, mean, logvar, eps.transpose(0, 1)), args.reps
        )  # noqa: B023
        rel = float(((v_new - v_old) / v_old).abs().max())
        torch.manual_seed(2)
        drawn = model.log_likelihood(x)
        name = f"{cls.__name__.lower()} iwae K={k}" + (" marginal" if cls is CVAE else "")
        row(
            name,
            args.images,
            t_old,
            t_new,
            rel,
            f"old vs new draw: {mean_se(v_old)} vs {mean_se(drawn)} nats (mean ± se)",
        )

    torch.manual_seed(0)
    ddpm = DDPM(dataclasses.replace(DDPM.default_config(MNIST), channels_last=False), MNIST).eval()
    with torch.no_grad():  # a fresh U-Net's last layer is zero: give the EMA copy some output
        for p in ddpm.net.parameters():
            p.add_(0.01 * torch.randn(p.shape, generator=torch.Generator().manual_seed(3)))
    n, e = args.ddpm_images, args.nll_timesteps
    x0 = torch.randint(0, 256, (n, 1, 28, 28), generator=gen).float() / 255 * 2 - 1
    ts, noises = vlb_draws(n, e, 784, 4, ddpm.schedule.num_timesteps)
    eps_fn = guided_eps(ddpm.net, None, 1.0)
    t_old, v_old = timed(lambda: old_vlb(ddpm, x0, ts, noises), args.reps)
    t_new, v_new = timed(
        lambda: negative_vlb(eps_fn, ddpm.schedule, x0, evaluations=e, generator=torch.Generator().manual_seed(4)),
        args.reps,
    )
    rel = float(((v_new - v_old) / v_old).abs().max())
    row(f"ddpm vlb E={e}", n, t_old, t_new, rel, "same draw layout; -bound in nats")

    def sample(chunk: int | None) -> torch.Tensor:
        cfg = ddpm.config
        ddpm.config = dataclasses.replace(cfg, steps=args.steps, eval_chunk=chunk or 10**6)
        try:
            return ddpm.sample(n, generator=torch.Generator().manual_seed(5))
        finally:
            ddpm.config = cfg

    t_old, s_old = timed(lambda: sample(None), args.reps)
    t_new, s_new = timed(lambda: sample(64), args.reps)
    rel = float((s_new - s_old).abs().max())
    row(f"ddpm DDIM-{args.steps} samples", n, t_old, t_new, None, f"same noise; max |pixel diff| {rel:.1e}")

    # Chunk-only changes: the same code with the whole batch in one pass (as before) or in chunks.
    images = (x0[:n] + 1) / 2
    for name, cls, field, new_chunk, call in [
        ("vae reconstruct", VAE, "iwae_batch", 256, lambda m: m.reconstruct(images)),
        ("ldm reconstruct", LDM, "eval_chunk", 64, lambda m: m.reconstruct(images)),
        ("glow log_likelihood", Glow, "eval_chunk", 64, lambda m: m.log_likelihood(images)),
        ("cglow log_likelihood", ConditionalGlow, "eval_chunk", 64, lambda m: m.log_likelihood(images)),
    ]:
        torch.manual_seed(0)
        model = cls(cls.default_config(MNIST), MNIST).eval()
        times, values = [], []
        for chunk in (10**6, new_chunk):
            model.config = dataclasses.replace(model.config, **{field: chunk})
            torch.manual_seed(6)  # the flows' dequantisation draws
            spent, value = timed(lambda: call(model), args.reps)  # noqa: B023
            times.append(spent)
            values.append(value)
        rel = float(((values[1] - values[0]) / values[0].abs().clamp(min=1e-3)).abs().max())
        row(f"{name} ({field})", n, times[0], times[1], rel, f"{n} images in one pass, then {new_chunk} at a time")


if __name__ == "__main__":
    main()
