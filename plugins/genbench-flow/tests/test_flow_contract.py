"""genbench's model contract for every flow, on 8x8 digits with the tiny presets."""

from __future__ import annotations

from genbench.testing import ModelContract, tiny_overrides

# A short warm-up; 80 steps (the contract default is 40) take the bound more than 10% down.
TINY = tiny_overrides(warmup_steps=5, hidden=16)


class TestGlow(ModelContract):
    model_name = "glow"
    overrides = TINY
    loss_key = "loss"
    train_steps = 80


class TestConditionalGlow(ModelContract):
    model_name = "cglow"
    overrides = TINY
    loss_key = "loss"
    train_steps = 80


class TestRealNVP(ModelContract):
    model_name = "realnvp"
    overrides = TINY
    loss_key = "loss"
    train_steps = 80


class TestGlowVariationalDequantization(ModelContract):
    model_name = "glow"
    overrides = {**TINY, "dequantization": "variational", "dequant_hidden": "8"}
    loss_key = "loss"
    train_steps = 80
