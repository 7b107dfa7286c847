"""Tests of the restoring models: the genbench contract, and that training beats the classical fill."""

from __future__ import annotations

import pytest
import torch

from genbench.api.dataset import ImageData
from genbench.api.restoration import Degradation
from genbench.data import load_dataset
from genbench.engine.build import build_model, resolve_config
from genbench.metrics.reconstruction import psnr
from genbench.metrics.restoration import coverage, std_error_correlation
from genbench.plugins import get_plugins
from genbench.testing import ModelContract, tiny_overrides, train_steps

TINY = tiny_overrides(hidden=16, blocks=2)


class TestCVAERecon(ModelContract):
    model_name = "cvae-recon"
    overrides = {**TINY, "latent_dim": "8", "kl_warmup_steps": "0"}
    loss_key = "loss"
    train_steps = 60


class TestCVAEReconDenoising(ModelContract):
    model_name = "cvae-recon"
    overrides = {**TINY, "latent_dim": "8"}
    degradation = {"op": "noise", "sigma": 0.3, "seed": 0}


class TestMMSE(ModelContract):
    model_name = "mmse"
    overrides = TINY
    loss_key = "loss"


class TestMeasured(ModelContract):
    model_name = "measured"


def trained(name: str, op: Degradation, steps: int, **overrides: str) -> torch.nn.Module:
    data = load_dataset("digits")
    spec = get_plugins().models.get(name)
    torch.manual_seed(0)
    model = build_model(spec, data.info, resolve_config(spec, data.info, overrides))
    if model.uses_degradation:
        model.set_degradation(op)
    if steps:
        train_steps(model, data, steps, batch_size=64)
    return model.eval()


@pytest.mark.parametrize("op", [Degradation("inpaint", rate=0.6), Degradation("noise", sigma=0.3)])
def test_trained_restorers_beat_the_classical_fill(op: Degradation) -> None:
    """After 300 steps on digits, both networks' posterior means are closer to the truth than the fill,
    and the CVAE's spread is larger where its error is (the paper's qualitative claim)."""
    data = load_dataset("digits")
    truth = ImageData.to_float(data.test_x[:200])
    m = op.measure(truth, torch.Generator().manual_seed(0))
    scores, outs = {}, {}
    for name, steps in (("measured", 0), ("mmse", 300), ("cvae-recon", 300)):
        model = trained(name, op, steps, **({} if name == "measured" else {"hidden": "16", "blocks": "2"}))
        with torch.no_grad():
            outs[name] = model.restore(m, 16, generator=torch.Generator().manual_seed(1))
        mse = ((outs[name].mean(1) - truth) ** 2).flatten(1).mean(1)
        scores[name] = float(psnr(mse).mean())
    assert scores["mmse"] > scores["measured"] + 1.0, scores
    assert scores["cvae-recon"] > scores["measured"] + 1.0, scores
    cvae = outs["cvae-recon"]
    assert float(cvae.std(1).mean()) > 0.01  # a posterior with a spread
    assert float(std_error_correlation(cvae, truth).mean()) > 0.2
    assert float(coverage(outs["mmse"], truth).mean()) < 0.2  # copies cover only exact hits
