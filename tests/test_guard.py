"""The run guards: samples no better than pixel noise, and labels that do not steer, are flagged."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
import torch

from genbench.data import load_dataset
from genbench.engine.guard import binomial_tail, chance_warning
from genbench.engine.pixel_noise import PixelNoise
from genbench.engine.runner import Runner, RunRequest
from genbench.report.leaderboard import WARNED_MARK, build_boards

SMOKE = ["train.batch_size=64", "eval.num_samples=360"]


def exact_tail(k: int, n: int, p: Fraction) -> float:
    return float(sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1)))


@pytest.mark.parametrize(("k", "n", "p"), [(0, 10, "1/10"), (3, 10, "1/10"), (30, 200, "1/10"), (272, 2000, "1/10")])
def test_binomial_tail_equals_the_exact_sum(k: int, n: int, p: str) -> None:
    assert binomial_tail(k, n, float(Fraction(p))) == pytest.approx(exact_tail(k, n, Fraction(p)), rel=1e-9, abs=1e-300)


def test_chance_accuracy_is_flagged_and_a_steering_model_is_not() -> None:
    at_chance = chance_warning(0.1, 2000, 10)
    assert at_chance is not None and "not above chance" in at_chance and "cond-acc 0.100" in at_chance
    # cglow before issue 25: 0.136 on 2,000 digits samples is above chance (p ~ 1e-7), yet far from steering.
    barely = chance_warning(0.136, 2000, 10)
    assert barely is not None and "barely above chance" in barely
    assert chance_warning(0.2, 2000, 10) is None
    assert chance_warning(0.85, 2000, 10) is None


def test_pixel_noise_has_the_data_mean_and_variance_per_pixel() -> None:
    data = load_dataset("digits")
    noise = PixelNoise(data)
    x = noise.sample(20000, generator=torch.Generator().manual_seed(0))
    assert x.shape == (20000, 1, 8, 8) and 0 <= float(x.min()) and float(x.max()) <= 1
    real = data.to_float(data.train_x)
    # Where clipping to [0, 1] binds little (mid-grey pixels), the moments match the data's.
    mid = ((real.mean(0) > 0.3) & (real.mean(0) < 0.7)).squeeze(0)
    assert mid.sum() > 5
    assert torch.allclose(x.mean(0)[0][mid], real.mean(0)[0][mid], atol=0.05)


def test_a_model_worse_than_noise_gets_a_warning_on_the_run_and_the_leaderboard(toy_plugins, results) -> None:
    runner = Runner(results)
    good = runner.run(RunRequest("toy", "digits", budget="smoke", sets=SMOKE, device="cpu"))
    assert good.run.status == "finished" and good.run.message is None
    # toy-pixel sampled at 50x its scale: black-and-white speckle, farther from digits than noise is.
    bad = runner.run(RunRequest("toy", "digits", budget="smoke", sets=[*SMOKE, "temperature=50"], device="cpu"))
    assert bad.run.status == "finished"
    assert bad.run.message is not None and "no closer to the data than pixel noise: clf-fd" in bad.run.message
    board = next(b for b in build_boards(runner.store) if b.dataset == "digits")
    warned = {row.label: row.warned for row in board.rows}
    assert warned == {"toy-pixel (temperature=1.0)": [], f"toy-pixel (temperature=50.0) {WARNED_MARK}": [bad.run.id]}
