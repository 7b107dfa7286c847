"""DDPM and LDM beyond the contract: sizing, presets, evaluation-time settings, EMA, the two LDM stages."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from genbench_diffusion.ddpm import DDPM
from genbench_diffusion.ldm import LDM

from genbench.api.dataset import DataInfo, ImageData
from genbench.api.model import eval_fields
from genbench.config import apply_overrides
from genbench.data import load_dataset
from genbench.errors import GenbenchError
from genbench.testing import train_steps

DIGITS = DataInfo("digits", (1, 8, 8), 10)
MNIST = DataInfo("mnist", (1, 28, 28), 10)
CIFAR10 = DataInfo("cifar10", (3, 32, 32), 10)
TINY = {"ch": "16", "timesteps": "50", "steps": "50", "nll_timesteps": "5", "warmup_steps": "0"}


@pytest.fixture(scope="module")
def digits() -> ImageData:
    return load_dataset("digits")


def tiny_ddpm(**overrides: str) -> DDPM:
    torch.manual_seed(0)
    return DDPM(apply_overrides(DDPM.default_config(DIGITS), {**TINY, **overrides}), DIGITS)


def train(model: DDPM | LDM, data: ImageData, steps: int, batch_size: int = 32) -> list[dict[str, float]]:
    return train_steps(model, data, steps, batch_size)


def test_paper_preset_has_ho_et_al_parameter_count() -> None:
    config = DDPM.default_config(CIFAR10)
    assert config.preset == "paper" and config.sampler == "ddpm" and config.steps == 1000
    with torch.device("meta"):
        model = DDPM(config, CIFAR10)
    params = sum(p.numel() for p in model.unet.parameters())
    labels = model.unet.label_emb.weight.numel()  # the class embedding for guidance, 11 x 512
    assert labels == 11 * 512
    # Ho et al. (App. B): 35.7M parameters for their unconditional CIFAR-10 model.
    assert params - labels == 35_746_307
    assert round((params - labels) / 1e6, 1) == 35.7


def test_sizes_itself_to_the_dataset() -> None:
    assert DDPM.default_config(DIGITS).preset == "tiny"
    mnist = DDPM.default_config(MNIST)
    assert mnist.preset == "small" and mnist.sampler == "ddim" and mnist.steps == 50
    assert mnist.channels_last and not DDPM.default_config(DIGITS).channels_last  # NHWC: faster CPU steps at 28x28
    model = DDPM(mnist, MNIST)
    assert sum(p.numel() for p in model.unet.parameters()) < 1.5e6  # one MNIST epoch in minutes on a CPU
    with torch.no_grad():
        out = model.unet(torch.randn(2, 1, 28, 28), torch.tensor([0, 999]))
    assert out.shape == (2, 1, 28, 28)
    # Fields set explicitly override the preset.
    arch = apply_overrides(mnist, {"ch": "8", "attn_levels": "1,2"}).architecture()
    assert arch["ch"] == 8 and arch["attn_levels"] == (1, 2) and arch["ch_mult"] == (1, 2, 2)
    assert apply_overrides(mnist, {"preset": "paper"}).architecture()["ch"] == 128


def test_settings_are_checked() -> None:
    base = DDPM.default_config(DIGITS)
    with pytest.raises(GenbenchError, match="steps"):
        apply_overrides(base, {"steps": "2000"})
    with pytest.raises(GenbenchError, match="nll_timesteps"):
        apply_overrides(base, {"timesteps": "100", "steps": "100", "nll_timesteps": "500"})
    with pytest.raises(GenbenchError):
        apply_overrides(base, {"sampler": "euler"})
    assert set(eval_fields(base)) == {
        "sampler",
        "steps",
        "eta",
        "variance",
        "guidance",
        "clip_x0",
        "use_ema",
        "nll_timesteps",
        "resample",
        "bound_version",
        "eval_chunk",
    }


def test_a_stored_run_is_re_evaluated_with_another_sampler(digits: ImageData) -> None:
    model = tiny_ddpm(sampler="ddpm")
    train(model, digits, 5)
    state = model.state_dict()
    # `genbench eval RUN --set sampler=ddim --set steps=10`: same weights, new evaluation settings.
    config = apply_overrides(model.config, {"sampler": "ddim", "steps": "10", "eta": "0"})
    assert eval_fields(config)["sampler"] == "ddim" and eval_fields(config)["steps"] == 10
    ddim = DDPM(config, DIGITS)
    ddim.load_state_dict(state)
    model.eval(), ddim.eval()
    a = model.sample(4, generator=torch.Generator().manual_seed(0))
    b = ddim.sample(4, generator=torch.Generator().manual_seed(0))
    c = ddim.sample(4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(b, c) and not torch.equal(a, b)
    # DDIM with η = 1 over all steps samples the same chain as DDPM with the posterior variance.
    small = DDPM(apply_overrides(model.config, {"variance": "small"}), DIGITS)
    eta1 = DDPM(apply_overrides(model.config, {"sampler": "ddim", "eta": "1"}), DIGITS)
    small.load_state_dict(state), eta1.load_state_dict(state)
    torch.testing.assert_close(
        small.eval().sample(4, generator=torch.Generator().manual_seed(1)),
        eta1.eval().sample(4, generator=torch.Generator().manual_seed(1)),
        atol=1e-4,
        rtol=0,
    )


def test_ema_weights_sample_and_lag_the_trained_weights(digits: ImageData) -> None:
    model = tiny_ddpm(steps="10", sampler="ddim")
    train(model, digits, 8)
    diff = [(a - b).abs().max().item() for a, b in zip(model.unet.parameters(), model.ema.module.parameters())]
    assert max(diff) > 0, "EMA equals the trained weights"
    model.eval()
    a = model.sample(3, generator=torch.Generator().manual_seed(0))
    model.config = dataclasses.replace(model.config, use_ema=False)
    b = model.sample(3, generator=torch.Generator().manual_seed(0))
    assert not torch.equal(a, b)
    model.train()
    assert not model.ema.module.training, "the EMA copy must not use dropout"


def test_guidance_zero_is_the_unconditional_model(digits: ImageData) -> None:
    model = tiny_ddpm(steps="10", sampler="ddim")
    train(model, digits, 3)
    model.eval()
    labels = torch.arange(4)
    uncond = model.sample(4, generator=torch.Generator().manual_seed(0))
    model.config = dataclasses.replace(model.config, guidance=0.0)
    assert torch.equal(model.sample(4, labels=labels, generator=torch.Generator().manual_seed(0)), uncond)
    model.config = dataclasses.replace(model.config, guidance=3.0)
    guided = model.sample(4, labels=labels, generator=torch.Generator().manual_seed(0))
    assert guided.shape == (4, 1, 8, 8) and not torch.equal(guided, uncond)


def test_log_likelihood_is_the_unconditional_bound(digits: ImageData) -> None:
    model = tiny_ddpm()
    train(model, digits, 3)
    model.eval()
    x, y = ImageData.to_float(digits.test_x[:6]), digits.test_y[:6]
    torch.manual_seed(0)
    a = model.log_likelihood(x, y)
    torch.manual_seed(0)
    b = model.log_likelihood(x)
    assert torch.equal(a, b)
    assert a.shape == (6,) and torch.isfinite(a).all() and (a < 0).all()


def test_ldm_trains_its_autoencoder_first_then_freezes_it(digits: ImageData) -> None:
    torch.manual_seed(0)
    config = apply_overrides(LDM.default_config(DIGITS), {"ae_steps": "4", "timesteps": "50", "steps": "5"})
    model = LDM(config, DIGITS)
    history = train(model, digits, 4)
    assert all("ae_loss" in h and "loss" in h for h in history)
    ae_before = [p.detach().clone() for p in model.ae.parameters()]
    unet_before = [p.detach().clone() for p in model.unet.parameters()]
    history = train_more(model, digits, start=4, steps=3)
    assert all("ae_loss" not in h for h in history)
    assert all(torch.equal(a, b) for a, b in zip(ae_before, model.ae.parameters())), "first stage moved"
    assert any(not torch.equal(a, b) for a, b in zip(unet_before, model.unet.parameters()))
    # The latent scale is measured once on the frozen autoencoder, then kept.
    scale = model.latent_scale.item()
    assert scale != 1.0
    train_more(model, digits, start=7, steps=2)
    assert model.latent_scale.item() == scale
    model.eval()
    x = ImageData.to_float(digits.test_x[:3])
    assert model.encode(x).shape == (3, 2 * 4 * 4)  # f = 2, two latent channels
    assert model.sample(2, generator=torch.Generator().manual_seed(0)).shape == (2, 1, 8, 8)


def train_more(model: LDM, data: ImageData, *, start: int, steps: int) -> list[dict[str, float]]:
    """Continue training as a resumed run would: the step counter carries on from ``start``."""
    return train_steps(model, data, steps, 32, start=start)


@pytest.mark.slow  # 48 s on an idle core, 621 s under load: `make test-slow` runs it
def test_genbench_run_diffusion_on_cifar10(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """`genbench run diffusion --dataset cifar10 --budget smoke` end to end on a tiny fake CIFAR-10
    (the real one is a download): the paper's architecture at tiny width, trained, scored by the
    bound (the Inception metrics are skipped without their weights) and sampled in RGB."""
    from pathlib import Path

    import numpy as np
    from PIL import Image

    from genbench.engine.runner import Runner, RunRequest
    from genbench.testing import fake_cifar10

    fake_cifar10(tmp_path / "data", monkeypatch)
    monkeypatch.delenv("GENBENCH_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.setenv("GENBENCH_OFFLINE", "1")  # missing weights skip the Inception metrics, never download
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    # 103 steps of 40 images at 32x32 on a CPU: the narrowest U-Net that keeps the preset's shape.
    small = {"ch": "8", "ch_mult": "1,2", "num_res_blocks": "1", "steps": "5", "nll_timesteps": "3"}
    sets = [f"{k}={v}" for k, v in {**TINY, **small}.items()]
    req = RunRequest("diffusion", "cifar10", budget="smoke", sets=[*sets, "eval.num_samples=8"], device="cpu",
                     data_dir=str(tmp_path / "data"))  # fmt: skip
    out = Runner(tmp_path / "results").run(req)
    assert out.run.status == "finished" and out.run.model == "ddpm", out.run.message
    assert out.run.config["model"]["preset"] == "paper" and out.run.config["model"]["attn_levels"] is None
    assert [s.name for s in out.scores] == ["nll"] and 0 < out.scores[0].value < 16
    grid = torch.from_numpy(np.array(Image.open(Path(out.run.run_dir) / "samples.png").convert("RGB")))
    assert not torch.equal(grid[..., 0], grid[..., 1])  # colour samples (a grey grid repeats one channel)
