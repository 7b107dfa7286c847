"""Evaluation is reproducible: a stored run re-evaluated with unchanged settings gives the same values."""

from __future__ import annotations

import pytest
import torch

from genbench.engine.runner import Runner, RunRequest


def test_reevaluation_equals_the_stored_values_for_a_stochastic_estimator(results):
    # The VAE's IWAE bound draws z from the global generator: its value depended on what ran before.
    pytest.importorskip("genbench_vae")
    runner = Runner(results)
    sets = ["hidden=8", "latent_dim=4", "iwae_k=8", "train.batch_size=128", "eval.num_samples=64"]
    out = runner.run(RunRequest("vae", "digits", budget="smoke", sets=sets, device="cpu"))
    stored = {s.name: s.value for s in out.scores}
    assert "nll" in stored
    torch.rand(17)  # whatever the global generator did meanwhile
    again = {s.name: s.value for s in runner.evaluate(out.run.id, [], device_name="cpu").scores}
    assert again == stored
    before = torch.get_rng_state()
    third = {s.name: s.value for s in runner.evaluate(out.run.id, ["eval.seed=7"], device_name="cpu").scores}
    assert third["nll"] != stored["nll"]  # another evaluation seed draws other z
    assert torch.equal(torch.get_rng_state(), before)  # and the caller's generator is left as it was
