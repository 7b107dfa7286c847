"""genbench's model contract for the diffusion models, on 8x8 digits with tiny configurations."""

from __future__ import annotations

from genbench.testing import ModelContract, tiny_overrides


class TestDDPMContract(ModelContract):
    model_name = "ddpm"
    overrides = tiny_overrides(ch=16, timesteps=100, steps=10, nll_timesteps=5, warmup_steps=0)
    loss_key = "loss"


class TestLDMContract(ModelContract):
    model_name = "ldm"
    overrides = tiny_overrides(ae_ch=16, ch=16, timesteps=100, steps=10, ae_steps=20, warmup_steps=0)
    loss_key = "loss"
