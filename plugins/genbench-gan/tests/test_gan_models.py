"""Tests of the gan plugin: genbench's model contract for each model, plus GAN-specific checks.

Every model is built tiny (a few channels) so that the whole file runs in well under two
minutes on one CPU core.
"""

from __future__ import annotations

import io
import math

import pytest
import torch
from genbench_gan.common import plan_resolution, spread_ratio
from genbench_gan.stylegan import ModulatedConv2d, minibatch_stddev
from genbench_gan.wgan_gp import gradient_penalty

from genbench.api.dataset import DataInfo, ImageData
from genbench.api.model import Batch, GenerativeModel, StepContext
from genbench.data import load_dataset
from genbench.engine.build import build_model, resolve_config
from genbench.plugins import get_plugins
from genbench.testing import GOLDEN_RTOL, ModelContract, float64, tiny_overrides

TINY = {
    "dcgan": tiny_overrides(width=8, z_dim=16),
    "cgan": tiny_overrides(width=8, z_dim=16),
    "wgan-gp": tiny_overrides(width=8, z_dim=16, n_critic=3),
    "stylegan": tiny_overrides(z_dim=16, w_dim=16, mapping_layers=1, width=16, min_width=8, r1_every=2),
}
MODELS = list(TINY)


# -- genbench's contract, once per model ------------------------------------------------------


class TestDCGAN(ModelContract):
    model_name = "dcgan"
    overrides = TINY["dcgan"]
    loss_key = None  # adversarial losses do not fall monotonically


class TestCGAN(ModelContract):
    model_name = "cgan"
    overrides = TINY["cgan"]
    loss_key = None


class TestWGANGP(ModelContract):
    model_name = "wgan-gp"
    overrides = TINY["wgan-gp"]
    loss_key = None


class TestStyleGAN(ModelContract):
    model_name = "stylegan"
    overrides = TINY["stylegan"]
    loss_key = None


# -- helpers ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits() -> ImageData:
    return load_dataset("digits")


def build(name: str, info: DataInfo, seed: int = 0, **extra: object) -> GenerativeModel:
    torch.manual_seed(seed)
    spec = get_plugins().models.get(name)
    config = resolve_config(spec, info, {**TINY[name], **tiny_overrides(**extra)})
    return build_model(spec, info, config)


def digits_batch(data: ImageData, step: int, size: int = 16) -> Batch:
    idx = torch.arange(step * size, (step + 1) * size) % len(data.train_y)
    return Batch(ImageData.to_float(data.train_x[idx]).to(torch.get_default_dtype()), data.train_y[idx])


def params(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def changed(module: torch.nn.Module, before: list[torch.Tensor]) -> bool:
    return any(not torch.equal(p, b) for p, b in zip(module.parameters(), before))


# -- adversarial steps -------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
def test_one_adversarial_step_changes_both_networks(name: str, digits: ImageData) -> None:
    model = build(name, digits.info)
    g_before, d_before = params(model.generator), params(model.discriminator)
    ctx = StepContext(model.configure_optimizers(), device=torch.device("cpu"))
    model.train()
    losses = model.training_step(digits_batch(digits, 0), ctx)
    assert changed(model.generator, g_before), "the generator did not move"
    assert changed(model.discriminator, d_before), "the discriminator did not move"
    # Both players' losses are logged every step, so the run view can plot both curves.
    assert {"d_loss", "g_loss"} <= set(losses)
    assert all(torch.isfinite(v) and v.numel() == 1 and not v.requires_grad for v in losses.values())


def test_wgan_gp_makes_n_critic_critic_updates_and_one_generator_update_per_batch(digits: ImageData) -> None:
    model = build("wgan-gp", digits.info)  # n_critic = 3
    ctx = StepContext(model.configure_optimizers(), device=torch.device("cpu"))
    model.train()
    g_before = params(model.generator)
    model.training_step(digits_batch(digits, 0), ctx)
    assert changed(model.generator, g_before)
    assert ctx.optimizers["d"].state_dict()["state"][0]["step"] == 3  # Adam's count of critic updates
    assert ctx.optimizers["g"].state_dict()["state"][0]["step"] == 1
    assert [model.generator_updates(s) for s in (0, 1, 7)] == [0, 1, 7]


def test_wgan_gp_to_the_letter_updates_the_generator_every_n_critic_steps(digits: ImageData) -> None:
    model = build("wgan-gp", digits.info, reuse_real=False)  # n_critic = 3
    ctx = StepContext(model.configure_optimizers(), device=torch.device("cpu"))
    model.train()
    moved = []
    for step in range(4):
        ctx.step = step
        g_before, d_before = params(model.generator), params(model.discriminator)
        losses = model.training_step(digits_batch(digits, step), ctx)
        assert changed(model.discriminator, d_before), f"critic rested at step {step}"
        assert "g_loss" in losses
        moved.append(changed(model.generator, g_before))
    assert moved == [True, False, False, True]
    assert [model.generator_updates(s) for s in (0, 1, 3, 4)] == [0, 1, 1, 2]


def test_wgan_gp_critic_starts_near_unit_gradient_norm(digits: ImageData) -> None:
    """He initialisation (the paper's code): the penalty has little to correct at the start.
    DCGAN's N(0, 0.02) gave norms near 0.03, a penalty near 1."""
    model = build("wgan-gp", digits.info, width=64)
    x = (torch.rand(64, *digits.info.shape) * 2 - 1).requires_grad_(True)
    (grad,) = torch.autograd.grad(model.discriminator(x).sum(), x)
    norm = grad.flatten(1).norm(dim=1).mean().item()
    assert 0.5 < norm < 2.0, norm


def test_wgan_gp_step_equals_algorithm_1_written_out(digits: ImageData) -> None:
    """Equivalence with Gulrajani et al.'s Algorithm 1 written independently here (per-sample
    epsilon and gradient norm, one Adam step per critic iteration): same draws, same weights."""
    import copy

    model = build("wgan-gp", digits.info)  # n_critic = 3
    ref = copy.deepcopy(model)
    ctx = StepContext(model.configure_optimizers(), device=torch.device("cpu"))
    cfg, g, d = ref.config, ref.generator, ref.discriminator
    betas = (cfg.beta1, cfg.beta2)
    opt_d, opt_g = torch.optim.Adam(d.parameters(), cfg.lr, betas), torch.optim.Adam(g.parameters(), cfg.lr, betas)
    model.train()
    ref.train()
    for step in range(2):
        batch = digits_batch(digits, step)
        torch.manual_seed(step)
        ctx.step = step
        model.training_step(batch, ctx)
        torch.manual_seed(step)
        real = batch.x * 2 - 1
        for _ in range(cfg.n_critic):
            with torch.no_grad():
                fake = g(torch.randn(len(real), cfg.z_dim))
            eps = torch.rand(len(real), 1, 1, 1)
            mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
            (grad,) = torch.autograd.grad(d(mixed).sum(), mixed, create_graph=True)
            loss = d(fake).mean() - d(real).mean() + cfg.gp_weight * ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
            opt_d.zero_grad()
            loss.backward()
            opt_d.step()
        loss_g = -d(g(torch.randn(len(real), cfg.z_dim))).mean()
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
    for (name, a), b in zip(model.state_dict().items(), ref.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), name


def test_gradient_penalty_is_zero_for_a_unit_gradient_critic() -> None:
    torch.manual_seed(0)
    u = torch.randn(1 * 4 * 4)
    u = u / u.norm()  # D(x) = <u, x> has gradient u, of norm 1, everywhere

    def critic(x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ u

    real, fake = torch.randn(5, 1, 4, 4), torch.randn(5, 1, 4, 4)
    assert float(gradient_penalty(critic, real, fake)) == pytest.approx(0.0, abs=1e-10)
    # Three times that critic has gradient norm 3: the penalty is (3 - 1)^2.
    assert float(gradient_penalty(lambda x: 3 * critic(x), real, fake)) == pytest.approx(4.0, rel=1e-5)


def test_gradient_penalty_matches_a_hand_computation() -> None:
    torch.manual_seed(0)
    real, fake = torch.rand(3, 1, 2, 2), torch.rand(3, 1, 2, 2)
    eps = torch.tensor([0.0, 0.5, 1.0]).view(3, 1, 1, 1)
    a = torch.tensor(0.7, requires_grad=True)
    # D(x) = a * sum(x^2) has gradient 2 a x, so its norm at x_hat is 2 a ||x_hat||.
    norms = (eps * real + (1 - eps) * fake).flatten(1).norm(dim=1)
    expected = ((2 * 0.7 * norms - 1) ** 2).mean()
    got = gradient_penalty(lambda x: a * x.pow(2).sum((1, 2, 3)), real, fake, eps)
    assert float(got.detach()) == pytest.approx(float(expected), rel=1e-6)
    # The penalty must carry gradient to the critic's weights: d/da = mean(2 (2 a n - 1) 2 n).
    got.backward()
    assert float(a.grad) == pytest.approx(float((4 * (2 * 0.7 * norms - 1) * norms).mean()), rel=1e-5)


# -- conditional sampling ------------------------------------------------------------------------


def test_cgan_conditional_samples_respect_their_labels(digits: ImageData) -> None:
    model = build("cgan", digits.info)
    ctx = StepContext(model.configure_optimizers(), device=torch.device("cpu"))
    model.train()
    for step in range(3):
        ctx.step = step
        model.training_step(digits_batch(digits, step), ctx)
    model.eval()
    n = 4
    by_label = []
    with torch.no_grad():
        for label in range(digits.num_classes):
            labels = torch.full((n,), label, dtype=torch.long)
            x = model.sample(n, labels=labels, generator=torch.Generator().manual_seed(0))
            assert x.shape == (n, *digits.info.shape) and x.dtype == torch.float32
            assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
            by_label.append(x)
        again = model.sample(n, labels=torch.full((n,), 3), generator=torch.Generator().manual_seed(0))
        unlabelled = model.sample(7, generator=torch.Generator().manual_seed(0))
    assert torch.equal(again, by_label[3]), "same label and seed, different images"
    # Same noise, different labels: the images must differ, for every pair of classes.
    for a in range(digits.num_classes):
        for b in range(a + 1, digits.num_classes):
            assert (by_label[a] - by_label[b]).abs().max() > 1e-4, f"labels {a} and {b} give the same images"
    assert unlabelled.shape == (7, *digits.info.shape)
    with pytest.raises(ValueError, match="labels"):
        model.sample(3, labels=torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="labels"):
        model.sample(2, labels=torch.tensor([0, digits.num_classes]))


@pytest.mark.parametrize("name", ["dcgan", "wgan-gp", "stylegan"])
def test_unconditional_models_refuse_labels(name: str, digits: ImageData) -> None:
    model = build(name, digits.info).eval()
    with pytest.raises(ValueError, match="unconditional"):
        model.sample(2, labels=torch.tensor([0, 1]))


# -- sizing --------------------------------------------------------------------------------------


def test_plan_resolution() -> None:
    assert plan_resolution(8, 8) == (4, 4, 1)
    assert plan_resolution(28, 28) == (7, 7, 2)
    assert plan_resolution(32, 32) == (4, 4, 3)
    with pytest.raises(ValueError):
        plan_resolution(7, 7)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_models_size_themselves_to_the_dataset(name: str, shape: tuple[int, int, int]) -> None:
    info = DataInfo("shape-test", shape, 10)
    model = build(name, info)
    ctx = StepContext(model.configure_optimizers(), device=torch.device("cpu"))
    model.train()
    batch = Batch(torch.rand(4, *shape), torch.arange(4))
    losses = model.training_step(batch, ctx)
    assert all(torch.isfinite(v) for v in losses.values())
    model.eval()
    with torch.no_grad():
        x = model.sample(3, generator=torch.Generator().manual_seed(0))
    assert x.shape == (3, *shape) and x.dtype == torch.float32
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0


def test_default_configs_differ_by_dataset() -> None:
    from genbench_gan.stylegan import StyleGAN

    small = StyleGAN.default_config(DataInfo("digits", (1, 8, 8), 10))
    cifar = StyleGAN.default_config(DataInfo("cifar10", (3, 32, 32), 10))
    assert cifar.width > small.width


# -- EMA and resume ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["dcgan", "stylegan"])
def test_sample_uses_the_ema_generator(name: str, digits: ImageData) -> None:
    model = build(name, digits.info, ema=True) if name == "dcgan" else build(name, digits.info)
    ctx = StepContext(model.configure_optimizers(), device=torch.device("cpu"))
    model.train()
    for step in range(3):
        ctx.step = step
        model.training_step(digits_batch(digits, step), ctx)
    model.eval()
    ema_net = model.g_ema.module
    with torch.no_grad():
        x = model.sample(4, generator=torch.Generator().manual_seed(0))
        live_differs = any(not torch.equal(a, b) for a, b in zip(ema_net.parameters(), model.generator.parameters()))
    assert live_differs, "the EMA copy did not lag the live generator"
    # Swap the live weights into the EMA copy: sampling must change, so it reads the EMA copy.
    ema_net.load_state_dict(model.generator.state_dict())
    with torch.no_grad():
        y = model.sample(4, generator=torch.Generator().manual_seed(0))
    assert not torch.equal(x, y)


@pytest.mark.parametrize("name", MODELS)
def test_resume_continues_exactly(name: str, digits: ImageData) -> None:
    """Checkpoint after 3 steps (model and every optimizer), resume in a fresh model: the next
    steps are the same as without the interruption."""

    def run(model: GenerativeModel, optimizers: dict, start: int, steps: int) -> list[dict[str, float]]:
        ctx = StepContext(optimizers, device=torch.device("cpu"))
        model.train()
        out = []
        for step in range(start, start + steps):
            ctx.step = step
            out.append({k: float(v) for k, v in model.training_step(digits_batch(digits, step), ctx).items()})
        return out

    model = build(name, digits.info, seed=1)
    optimizers = model.configure_optimizers()
    run(model, optimizers, 0, 3)
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": {k: o.state_dict() for k, o in optimizers.items()}}, buf)
    torch.manual_seed(11)
    straight = run(model, optimizers, 3, 3)

    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    fresh = build(name, digits.info, seed=2)
    fresh.load_state_dict(state["model"])
    fresh_opts = fresh.configure_optimizers()
    for key, opt in fresh_opts.items():
        opt.load_state_dict(state["opt"][key])
    torch.manual_seed(11)
    resumed = run(fresh, fresh_opts, 3, 3)
    assert resumed == straight


# -- StyleGAN pieces -----------------------------------------------------------------------------


def test_demodulation_gives_unit_variance_outputs() -> None:
    torch.manual_seed(0)
    conv = ModulatedConv2d(64, 32, 3, w_dim=8)
    with torch.no_grad():
        conv.affine.bias.fill_(3.0)  # styles around 3: without demodulation the output std is ~3
    x = torch.randn(4, 64, 24, 24)  # unit-variance input
    w = torch.randn(4, 8)
    with torch.no_grad():
        y = conv(x, w)[:, :, 1:-1, 1:-1]  # interior: zero padding lowers the variance at the border
        conv.demodulate = False
        raw = conv(x, w)[:, :, 1:-1, 1:-1]
    std = y.std(dim=(2, 3))  # (B, C_out): every sample and output channel
    assert std.mean() == pytest.approx(1.0, abs=0.05)
    assert float(std.min()) > 0.8 and float(std.max()) < 1.2
    assert float(raw.std()) > 2.0, "the test would pass without demodulation"


def test_minibatch_stddev_appends_the_group_spread() -> None:
    x = torch.zeros(4, 2, 3, 3)
    x[:2] = 1.0  # groups of 4 (samples 0..3): per-feature std is 0.5 everywhere
    out = minibatch_stddev(x, group=4)
    assert out.shape == (4, 3, 3, 3)
    assert torch.allclose(out[:, 2], torch.full((4, 3, 3), 0.5), atol=1e-3)
    assert minibatch_stddev(torch.randn(3, 2, 3, 3)).shape == (3, 3, 3, 3)  # 3 samples: groups of 3


def test_stylegan_style_mixing_uses_two_latents(digits: ImageData) -> None:
    model = build("stylegan", digits.info)
    net = model.generator.eval()
    z, z2 = torch.randn(2, 16), torch.randn(2, 16)
    noise = net.synthesis.make_noise(2, torch.Generator().manual_seed(0), torch.device("cpu"))
    with torch.no_grad():
        plain = net(z, noise)
        mixed = net(z, noise, mix_z=z2, cutoff=1)
        all_second = net(z2, noise)
        mixed_from_start = net(z, noise, mix_z=z2, cutoff=0)
    assert not torch.equal(plain, mixed)
    assert torch.allclose(mixed_from_start, all_second)


# -- golden values -------------------------------------------------------------------------------


# Recorded with torch 2.14 on CPU in float64 (so they hold on any CPU and thread count); steps 0
# and 2 are lazy R1 steps (r1_every=2), step 1 reports the R1 of step 0. The R1 penalty is summed
# in float32 by design (its value is rounded to float32 here too).
GOLDEN_STYLEGAN = [
    {"r1": 0.1903229057788849, "d_loss": 1.3703422762108686, "g_loss": 0.5099856202344744},
    {"r1": 0.1903229057788849, "d_loss": 1.4101280023383942, "g_loss": 0.5010060364586065},
    {"r1": 0.17796628177165985, "d_loss": 1.369872776971492, "g_loss": 0.5142269264954221},
]


def test_stylegan_first_losses_golden(digits: ImageData) -> None:
    """Seeded first steps of a tiny StyleGAN on digits: catches numerical drift in the
    mapping, modulation, noise, R1 and loss code."""
    with float64():
        model = build("stylegan", digits.info, seed=0)
        ctx = StepContext(model.configure_optimizers(), device=torch.device("cpu"))
        model.train()
        torch.manual_seed(1)
        got_steps = []
        for step in range(len(GOLDEN_STYLEGAN)):
            ctx.step = step
            losses = model.training_step(digits_batch(digits, step), ctx)
            got_steps.append({k: float(losses[k]) for k in GOLDEN_STYLEGAN[step]})
    assert next(model.parameters()).dtype == torch.float64
    for step, (got, expected) in enumerate(zip(got_steps, GOLDEN_STYLEGAN)):
        for key, value in expected.items():
            # r1 is a float32 value: compare it at float32's resolution.
            tol = 1e-6 if key == "r1" else GOLDEN_RTOL
            assert math.isclose(got[key], value, rel_tol=tol), f"step {step} {key}: {got[key]!r} != {value}"


def test_spread_is_zero_for_one_repeated_image_and_one_for_the_data(digits: ImageData) -> None:
    real = ImageData.to_float(digits.train_x[:64])
    assert spread_ratio(real, real).item() == pytest.approx(1.0)
    assert spread_ratio(real[:1].expand(64, -1, -1, -1), real).item() == 0.0


@pytest.mark.parametrize("name", MODELS)
def test_mode_collapse_is_reported_after_the_warm_up(name: str, digits: ImageData) -> None:
    model = build(name, digits.info)
    every = 1  # training steps per generator update (wgan-gp: n_critic critic updates in each)
    early = [(s, 0.2) for s in range(10, 100 * every, 10)]  # every generator starts out uniform
    healthy = early + [(s, 0.8) for s in range(100 * every, 400 * every, 10)]
    assert model.training_warning({"d_loss": [(10, 1.0)], "spread": healthy}) is None
    collapsed = healthy + [(400 * every, 0.25), (410 * every, 0.3)]
    warning = model.training_warning({"spread": collapsed})
    assert warning is not None and "mode collapse" in warning
    assert f"fell to 0.25 at step {400 * every}" in warning and "in 2 of " in warning


@pytest.mark.parametrize("name", MODELS)
def test_trains_on_cifar10_through_the_engine(name: str, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Ten steps at CIFAR-10's shape through genbench's trainer, on a tiny fake CIFAR-10 (the real
    one is a download). Offline, ``genbench run`` refuses GANs on cifar10 up front: its metrics
    need the Inception weights."""
    from genbench.config import TrainConfig
    from genbench.engine.checkpoint import load_checkpoint
    from genbench.engine.trainer import train
    from genbench.testing import fake_cifar10

    fake_cifar10(tmp_path, monkeypatch)
    data = load_dataset("cifar10", tmp_path)
    model = build(name, data.info)
    ckpt = tmp_path / "checkpoint.pt"
    result = train(
        model, data, TrainConfig(), budget_images=400, seed=0, device=torch.device("cpu"), checkpoint_path=ckpt
    )
    assert result.status == "finished" and result.step == 10  # batches of all 40 fake images
    x = model.eval().sample(10, labels=torch.arange(10) if name == "cgan" else None)
    assert x.shape == (10, 3, 32, 32) and 0 <= float(x.min()) and float(x.max()) <= 1
    saved = load_checkpoint(ckpt)["model"]
    assert all(torch.equal(v, saved[k]) for k, v in model.state_dict().items())
