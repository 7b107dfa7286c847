"""Tests of the cyclegan plugin: genbench's model contract (on the offline digits2color pair), the
history pool, the learning-rate schedule, and a run through the engine."""

from __future__ import annotations

import pytest
import torch
from genbench_cyclegan.cyclegan import CycleGAN, CycleGANConfig, ImagePool, linear_decay

from genbench.api.dataset import DataInfo, ImageData
from genbench.api.model import StepContext
from genbench.data import load_dataset
from genbench.engine.build import build_model, default_train_config, resolve_config
from genbench.engine.runner import Runner, RunRequest
from genbench.plugins import get_plugins
from genbench.testing import ModelContract, batch_at, tiny_overrides

TINY = tiny_overrides(ngf=4, n_blocks=1, ndf=8)


class TestCycleGAN(ModelContract):
    model_name = "cyclegan"
    dataset = "digits2color"
    overrides = TINY
    loss_key = "cycle"  # the cycle-consistency loss falls on the tiny pair (the adversarial ones need not)


class TestIdentity(ModelContract):
    model_name = "identity"
    dataset = "digits2color"


@pytest.fixture(scope="module")
def pair() -> ImageData:
    return load_dataset("digits2color")


# -- the history pool ---------------------------------------------------------------------------


def test_pool_returns_and_stores_new_images_until_full() -> None:
    pool = ImagePool(5, (1, 2, 2))
    x = torch.arange(3.0).view(3, 1, 1, 1).expand(3, 1, 2, 2)
    assert torch.equal(pool.query(x), x)
    assert int(pool.filled) == 3
    assert torch.equal(pool.images[:3], x)
    y = 10 + torch.arange(3.0).view(3, 1, 1, 1).expand(3, 1, 2, 2)
    out = pool.query(y)  # two fill the pool, the third meets a full pool
    assert torch.equal(out[:2], y[:2]) and int(pool.filled) == 5


def test_full_pool_swaps_about_half_with_history() -> None:
    torch.manual_seed(0)
    pool = ImagePool(50, (1, 1, 1))
    pool.query(-torch.arange(1.0, 51.0).view(50, 1, 1, 1))  # fill with -1..-50
    new = torch.arange(1.0, 1001.0).view(1000, 1, 1, 1)
    out = pool.query(new).flatten()
    from_history = out != new.flatten()
    assert 0.4 < float(from_history.float().mean()) < 0.6, "not half of the images came from the history"
    # Every returned image is either the new one or one that was stored before it.
    seen = set((-torch.arange(1.0, 51.0)).tolist()) | set(new.flatten().tolist())
    assert set(out.tolist()) <= seen
    # The pool keeps 50 images, each one it was given; no image is returned twice from the history.
    stored = pool.images.flatten().tolist()
    assert len(stored) == 50 and set(stored) <= seen
    old = out[from_history].tolist()
    assert len(old) == len(set(old))


def test_pool_of_size_zero_is_a_pass_through() -> None:
    pool = ImagePool(0, (1, 2, 2))
    x = torch.rand(4, 1, 2, 2)
    assert pool.query(x) is x


# -- learning-rate schedule ---------------------------------------------------------------------


def test_linear_decay_constant_then_linear_to_zero() -> None:
    assert [linear_decay(s, 10, 0.5) for s in (0, 4, 5, 6, 9)] == pytest.approx([1.0, 1.0, 1.0, 0.8, 0.2])
    assert linear_decay(10, 10, 0.5) == 0.0
    assert linear_decay(123, 0, 0.5) == 1.0  # unknown length: constant


def test_training_step_applies_the_schedule(pair: ImageData) -> None:
    torch.manual_seed(0)
    model = CycleGAN(CycleGANConfig(ngf=4, n_down=1, n_blocks=1, ndf=8, d_layers=1), pair.info)
    ctx = StepContext(model.configure_optimizers(), device=torch.device("cpu"))
    ctx.step, ctx.total_steps = 75, 100
    losses = model.training_step(batch_at(pair, 0, 8), ctx)
    assert float(losses["lr_factor"]) == pytest.approx(0.5)
    for opt in ctx.optimizers.values():
        assert opt.param_groups[0]["lr"] == pytest.approx(1e-4)


def test_refuses_a_one_domain_batch() -> None:
    data = load_dataset("digits")
    model = CycleGAN(CycleGANConfig(ngf=4, n_down=1, n_blocks=1, ndf=8, d_layers=1), DataInfo("digits", (1, 8, 8), 10))
    ctx = StepContext(model.configure_optimizers(), device=torch.device("cpu"))
    with pytest.raises(ValueError, match="two-domain"):
        model.training_step(batch_at(data, 0, 4), ctx)


def test_default_sizes_follow_the_image() -> None:
    spec = get_plugins().models.get("cyclegan")
    small = resolve_config(spec, DataInfo("x", (3, 28, 28), 10))
    paper = resolve_config(spec, DataInfo("x", (3, 256, 256), 1))
    assert (paper.ngf, paper.n_blocks, paper.d_layers, paper.ndf) == (64, 9, 3, 64)  # the paper's 256x256 networks
    assert small.d_layers == 1 and small.n_down == 1  # 16x16 patches, 14x14 bottleneck on 28x28
    build_model(spec, DataInfo("x", (3, 28, 28), 10), small)
    # The reference's one update per image on large images; batches of 4 on 28x28, 16 on 8x8.
    batch = {side: default_train_config(spec, DataInfo("x", (3, side, side), 1)).batch_size for side in (256, 28, 8)}
    assert batch == {256: 1, 28: 4, 8: 16}


# -- through the engine --------------------------------------------------------------------------


def test_cyclegan_and_identity_run_through_the_engine(tmp_path) -> None:
    runner = Runner(tmp_path)
    sets = [f"{k}={v}" for k, v in TINY.items()]
    cg = runner.run(RunRequest("cyclegan", "digits2color", budget="smoke", sets=sets))
    # The model's own batch of 16 on 8x8, not the engine's 64: 128 updates for the 2,048 smoke images.
    assert cg.run.status == "finished" and cg.run.images_seen == 2048 and cg.run.steps == 128
    assert cg.run.config["train"]["batch_size"] == 16
    names = {s.name for s in cg.scores}
    for d in ("a2b", "b2a"):
        assert {
            f"translate-acc-{d}",
            f"translate-domain-acc-{d}",
            f"translate-fd-{d}",
            f"cycle-l1-{d}",
            f"gt-l1-{d}",
        } <= names
    assert any(a.path.endswith("translations.png") for a in cg.run.artifacts)

    ident = runner.run(RunRequest("cyclegan", "digits2color", model="identity", budget="smoke"))
    assert ident.run.status == "finished" and ident.run.images_seen == 0 and ident.run.steps == 0
    assert "nothing to train" in (ident.run.message or "")
    scores = {s.name: s.value for s in ident.scores}
    assert scores["cycle-l1-a2b"] == 0.0 and scores["cycle-l1-b2a"] == 0.0
    # Doing nothing cannot pass for the other domain: the domain classifier sees its source domain.
    assert scores["translate-domain-acc-a2b"] < 0.02 and scores["translate-domain-acc-b2a"] < 0.02
    # ... and its Wilson interval keeps a width at 0, so the leaderboard can rank it below a translator.
    domain = next(s for s in ident.scores if s.name == "translate-domain-acc-a2b")
    assert domain.interval is not None and domain.interval.method == "wilson"
    assert domain.interval.low <= domain.value < domain.interval.high
    # The stored parameter-free model re-evaluates like any other run.
    again = {s.name: s.value for s in runner.evaluate(ident.run.id, []).scores}
    assert again == scores
