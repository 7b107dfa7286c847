"""How the diffusion training step runs: no host round trips, torch.compile, channels_last, checkpoints across them."""

from __future__ import annotations

import io
import shutil

import pytest
import torch
from genbench_diffusion.ddpm import DDPM
from genbench_diffusion.ldm import LDM

from genbench.api.dataset import DataInfo, ImageData
from genbench.api.model import Batch, StepContext
from genbench.config import apply_overrides
from genbench.data import load_dataset
from genbench.errors import GenbenchError
from genbench.testing import train_steps

DIGITS = DataInfo("digits", (1, 8, 8), 10)
TINY_DDPM = {"ch": "16", "timesteps": "50", "steps": "50", "nll_timesteps": "5", "warmup_steps": "0"}
TINY_LDM = {"ae_ch": "16", "ch": "16", "ae_steps": "2", "timesteps": "50", "steps": "5", "warmup_steps": "0"}


@pytest.fixture(scope="module")
def digits() -> ImageData:
    return load_dataset("digits")


@pytest.mark.parametrize(("cls", "overrides"), [(DDPM, TINY_DDPM), (LDM, TINY_LDM)], ids=["ddpm", "ldm"])
def test_training_step_never_reads_a_value_on_the_host(cls: type[DDPM] | type[LDM], overrides: dict[str, str]) -> None:
    # On the meta device tensors have shapes but no values: .item(), .cpu(), float(t), `if t` and
    # indexing a CPU table with them all raise. A step that runs here makes no device-to-host copy,
    # so on a GPU it never waits for the kernels it has queued (the schedule used to gather with t.cpu()).
    model = cls(apply_overrides(cls.default_config(DIGITS), overrides), DIGITS).to("meta")
    assert model.schedule.alphas_cumprod.device.type == "meta", "the schedule did not move with the model"
    ctx = StepContext(model.configure_optimizers(), device=torch.device("meta"))
    batch = Batch(torch.rand(4, 1, 8, 8, device="meta"), torch.randint(0, 10, (4,), device="meta"))
    for step in range(4):  # LDM: both stages, and the step that measures the latent scale
        ctx.step = step
        losses = model.training_step(batch, ctx)
        assert losses["loss"].device.type == "meta" and losses["loss"].shape == ()


def test_schedule_tables_are_not_checkpointed() -> None:
    # They are rebuilt from the config, so checkpoints written before they became buffers still load.
    model = DDPM(apply_overrides(DDPM.default_config(DIGITS), TINY_DDPM), DIGITS)
    assert not [k for k in model.state_dict() if k.startswith("schedule.")]
    assert model.schedule.alphas_cumprod.dtype == torch.float64


def tiny_ddpm(**overrides: str) -> DDPM:
    torch.manual_seed(0)
    return DDPM(apply_overrides(DDPM.default_config(DIGITS), {**TINY_DDPM, **overrides}), DIGITS)


def seeded_steps(model: DDPM, digits: ImageData) -> list[dict[str, float]]:
    torch.manual_seed(1)  # the same timesteps, noise and label dropout for every model
    return train_steps(model, digits, 3, 16)


def conv_weights(model: DDPM) -> list[torch.Tensor]:
    return [m.weight for m in model.unet.modules() if isinstance(m, torch.nn.Conv2d)]


def test_compiled_channels_last_step_matches_eager_and_checkpoints_load_across_settings(
    digits: ImageData, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Dynamo traces the real forward and AOTAutograd its backward, but the graph runs eagerly
    # ("aot_eager"): inductor's C++ compile takes minutes on a loaded CPU (the slow test below runs it).
    real_compile, modes = torch.compile, []

    def aot_eager(fn, *, mode=None, **kwargs):  # type: ignore[no-untyped-def]
        modes.append(mode)
        return real_compile(fn, backend="aot_eager")

    monkeypatch.setattr(torch, "compile", aot_eager)
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    eager = tiny_ddpm()
    fast = tiny_ddpm(compile="reduce-overhead", channels_last="true")
    assert modes == ["reduce-overhead"]
    assert all(w.is_contiguous(memory_format=torch.channels_last) for w in conv_weights(fast))
    assert not all(w.is_contiguous(memory_format=torch.channels_last) for w in conv_weights(eager))
    a, b = seeded_steps(eager, digits), seeded_steps(fast, digits)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 1, "the U-Net was not compiled"
    for la, lb in zip(a, b):
        assert la["loss"] == pytest.approx(lb["loss"], abs=1e-5)

    # No `_orig_mod.` in the checkpoint: written compiled, it loads into an eager model and back.
    state = fast.state_dict()
    assert list(state) == list(eager.state_dict())
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    plain = tiny_ddpm()
    plain.load_state_dict(torch.load(buffer))
    for name, value in plain.state_dict().items():
        assert torch.equal(value, state[name]), name
    again = tiny_ddpm(compile="default")
    again.load_state_dict(plain.state_dict())
    assert all(torch.equal(p, q) for p, q in zip(again.parameters(), fast.parameters()))


@pytest.mark.slow  # inductor compiles C++ for the forward and the backward: 5.5 minutes on this project's loaded CPU
@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="inductor needs a C compiler")
def test_inductor_compiled_step_matches_eager(digits: ImageData) -> None:
    torch._dynamo.reset()
    eager, compiled = tiny_ddpm(), tiny_ddpm(compile="default")
    for la, lb in zip(seeded_steps(eager, digits), seeded_steps(compiled, digits)):
        assert la["loss"] == pytest.approx(lb["loss"], abs=1e-5)
    for p, q in zip(eager.parameters(), compiled.parameters()):
        torch.testing.assert_close(p, q, atol=1e-4, rtol=0)


def test_speed_settings_are_checked_and_adam_stays_unfused_on_the_cpu() -> None:
    with pytest.raises(GenbenchError, match="compile"):
        apply_overrides(DDPM.default_config(DIGITS), {"compile": "fast"})
    model = tiny_ddpm(channels_last="yes")
    assert model.config.channels_last is True and model.config.compile == "off"
    # Fused Adam only for CUDA parameters, so CPU runs compute what they always did.
    assert not model.configure_optimizers()["unet"].defaults["fused"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="fused Adam is chosen for CUDA parameters")
def test_adam_is_fused_on_a_gpu() -> None:
    model = tiny_ddpm().to("cuda")
    assert model.configure_optimizers()["unet"].defaults["fused"] is True


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA's sync debug mode needs a GPU")
@pytest.mark.parametrize("amp", ["none", "bf16"])
def test_cuda_training_step_never_synchronises(amp: str) -> None:
    # The GPU form of the meta-device test: CUDA raises on any call that waits for the device.
    model = tiny_ddpm(compile="off").to("cuda")
    ctx = StepContext(model.configure_optimizers(), device=torch.device("cuda"), amp=amp)
    batch = Batch(torch.rand(8, 1, 8, 8, device="cuda"), torch.randint(0, 10, (8,), device="cuda"))
    model.training_step(batch, ctx)  # the first step creates the optimizer's state
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for step in range(1, 4):
            ctx.step = step
            model.training_step(batch, ctx)
    finally:
        torch.cuda.set_sync_debug_mode("default")
