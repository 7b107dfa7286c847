"""How the diffusion training step runs: no host round trips, torch.compile, channels_last, checkpoints across them."""

from __future__ import annotations

import pytest
import torch
from genbench_diffusion.ddpm import DDPM
from genbench_diffusion.ldm import LDM

from genbench.api.dataset import DataInfo
from genbench.api.model import Batch, StepContext
from genbench.config import apply_overrides

DIGITS = DataInfo("digits", (1, 8, 8), 10)
TINY_DDPM = {"ch": "16", "timesteps": "50", "steps": "50", "nll_timesteps": "5", "warmup_steps": "0"}
TINY_LDM = {"ae_ch": "16", "ch": "16", "ae_steps": "2", "timesteps": "50", "steps": "5", "warmup_steps": "0"}


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
