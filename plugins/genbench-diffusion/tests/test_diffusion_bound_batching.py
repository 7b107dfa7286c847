"""The batched diffusion bound against the per-stratum loop it replaced, given the same draws.

The old code called the network once per stratum on the whole batch and drew each stratum's
timesteps and noise for all images at once; the new code sends every (image, timestep) pair
through the network in chunks, and each image draws its own timesteps and noise in turn
(E − 1 uniforms, then E noise images), so its estimate does not depend on the batch size.
"""

from __future__ import annotations

import pytest
import torch
from genbench_diffusion.likelihood import negative_vlb, prior_kl, strata, vlb_term
from genbench_diffusion.schedule import NoiseSchedule
from genbench_diffusion.unet import UNet, guided_eps

from genbench.api import normal_from_uniform


def tiny_net(num_classes: int = 0) -> UNet:
    torch.manual_seed(0)
    net = UNet(in_channels=1, ch=8, ch_mult=(1, 2), num_res_blocks=1, attn_levels=(1,), num_classes=num_classes)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.02 * torch.randn(p.shape, generator=g))
    return net.eval()


def eight_bit(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    k = torch.randint(0, 256, shape, generator=torch.Generator().manual_seed(seed))
    return k.float() / 255 * 2 - 1


def documented_draws(b: int, evaluations: int, dims: int, seed: int, num_timesteps: int) -> tuple[list, list]:
    """Per stratum (L_0 first): the (B,) timesteps and (B, C*H*W) noise the docstring says each image draws."""
    u = torch.rand(
        b, evaluations - 1 + evaluations * dims, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
    )
    noise = normal_from_uniform(u[:, evaluations - 1 :]).view(b, evaluations, dims).float()
    ts = [torch.zeros(b, dtype=torch.long)]
    for j, (lo, hi) in enumerate(strata(num_timesteps, evaluations)):
        ts.append(torch.clamp(lo + torch.floor(u[:, j] * (hi - lo)).long(), max=hi - 1))
    return ts, [noise[:, j] for j in range(evaluations)]


def old_negative_vlb(eps_fn, schedule, x0, ts, noises, evaluations):  # type: ignore[no-untyped-def]
    """The loop before batching (genbench_diffusion 2026-12-05), its draws given."""

    def term(t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return vlb_term(eps_fn, schedule, x0, t, variance="large", clip_x0=True, noise=noise.view_as(x0))

    total = prior_kl(schedule, x0) + term(ts[0], noises[0])
    for j, (lo, hi) in enumerate(strata(schedule.num_timesteps, evaluations), start=1):
        total = total + (hi - lo) * term(ts[j], noises[j])
    return total


@pytest.mark.parametrize(("evaluations", "chunk"), [(6, 64), (6, 7), (50, 64)])
def test_batched_bound_equals_the_per_stratum_loop(evaluations: int, chunk: int) -> None:
    schedule = NoiseSchedule.make("linear", 50)
    eps = guided_eps(tiny_net(), None, 1.0)
    x0 = eight_bit((5, 1, 8, 8))
    new = negative_vlb(
        eps, schedule, x0, evaluations=evaluations, generator=torch.Generator().manual_seed(3), chunk=chunk
    )
    ts, noises = documented_draws(5, evaluations, 64, 3, 50)
    with torch.no_grad():
        old = old_negative_vlb(eps, schedule, x0, ts, noises, evaluations)
    assert new.shape == (5,) and float(new.min()) > 0
    torch.testing.assert_close(new, old, rtol=1e-6, atol=0)


def test_bound_does_not_depend_on_the_batch_size() -> None:
    schedule = NoiseSchedule.make("linear", 50)
    eps = guided_eps(tiny_net(), None, 1.0)
    x0 = eight_bit((7, 1, 8, 8), seed=1)
    torch.manual_seed(4)
    whole = negative_vlb(eps, schedule, x0, evaluations=5)
    torch.manual_seed(4)
    split = torch.cat(
        [negative_vlb(eps, schedule, x0[:2], evaluations=5), negative_vlb(eps, schedule, x0[2:], evaluations=5)]
    )
    torch.testing.assert_close(split, whole, rtol=1e-6, atol=0)
    torch.manual_seed(5)  # another draw, another estimate
    assert not torch.equal(negative_vlb(eps, schedule, x0, evaluations=5), whole)


@pytest.mark.parametrize("guidance", [1.0, 2.5])
def test_chunked_network_calls_give_the_same_eps(guidance: float) -> None:
    net = tiny_net(num_classes=3)
    x, t = torch.randn(10, 1, 8, 8), torch.randint(0, 50, (10,))
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    with torch.no_grad():
        whole = guided_eps(net, labels, guidance)(x, t)
        chunked = guided_eps(net, labels, guidance, chunk=3)(x, t)
    # Each image keeps its own label across chunks: a shuffled label would change its ε.
    torch.testing.assert_close(chunked, whole, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        other = guided_eps(net, labels.roll(1), guidance, chunk=3)(x, t)
    assert not torch.allclose(other, whole, atol=1e-4)


def test_ddpm_eval_chunk_changes_memory_not_the_samples_or_the_bound() -> None:
    from genbench_diffusion.ddpm import DDPM

    from genbench.api.dataset import DataInfo
    from genbench.config import apply_overrides

    info = DataInfo("digits", (1, 8, 8), 10)
    out = []
    for chunk in ("64", "3"):
        torch.manual_seed(0)
        tiny = {"ch": "8", "steps": "5", "nll_timesteps": "4", "eval_chunk": chunk}
        model = DDPM(apply_overrides(DDPM.default_config(info), tiny), info).eval()
        with torch.no_grad():
            for p in model.net.parameters():  # the EMA copy samples: give it some non-zero weights
                p.add_(0.02 * torch.randn(p.shape, generator=torch.Generator().manual_seed(1)))
        samples = model.sample(7, labels=torch.arange(7) % 10, generator=torch.Generator().manual_seed(2))
        torch.manual_seed(3)
        out.append((samples, model.log_likelihood(samples)))
    torch.testing.assert_close(out[1][0], out[0][0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out[1][1], out[0][1], rtol=1e-6, atol=0)


def test_ldm_eval_chunk_changes_memory_not_the_values() -> None:
    from genbench_diffusion.ldm import LDM

    from genbench.api.dataset import DataInfo
    from genbench.config import apply_overrides

    info = DataInfo("digits", (1, 8, 8), 10)
    x = (eight_bit((9, 1, 8, 8), seed=2) + 1) / 2
    out = []
    for chunk in ("64", "2"):
        torch.manual_seed(0)
        model = LDM(apply_overrides(LDM.default_config(info), {"steps": "4", "eval_chunk": chunk}), info).eval()
        with torch.no_grad():
            for p in model.ema.module.parameters():  # a fresh U-Net's last layer is zero: give it some output
                p.add_(0.02 * torch.randn(p.shape, generator=torch.Generator().manual_seed(1)))
        samples = model.sample(9, labels=torch.arange(9) % 10, generator=torch.Generator().manual_seed(2))
        out.append((samples, model.reconstruct(x), model.encode(x)))
    for chunked, whole in zip(out[1], out[0]):
        torch.testing.assert_close(chunked, whole, rtol=1e-5, atol=1e-5)
    assert out[0][0].shape == (9, 1, 8, 8) and out[0][2].shape[0] == 9
