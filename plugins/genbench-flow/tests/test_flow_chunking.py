"""Flows evaluate ``eval_chunk`` images per pass (issue 28): a memory and speed setting that never changes a value."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from genbench_flow.flow import FlowModel
from genbench_flow.glow import ConditionalGlow, Glow
from genbench_flow.realnvp import RealNVP

from genbench.api.dataset import ImageData
from genbench.data import load_dataset
from genbench.testing import train_steps


@pytest.fixture(scope="module")
def digits() -> ImageData:
    return load_dataset("digits")


@pytest.mark.parametrize("cls", [Glow, ConditionalGlow, RealNVP])
def test_eval_chunk_changes_memory_not_the_values(digits: ImageData, cls: type[FlowModel]) -> None:
    torch.manual_seed(0)
    model = cls(dataclasses.replace(cls.default_config(digits.info), hidden=8, warmup_steps=1), digits.info)
    train_steps(model, digits, 5, 32)  # actnorm initialised, couplings off zero
    model.eval()
    x = ImageData.to_float(digits.test_x[:11])
    labels = digits.test_y[:11]
    results = []
    for chunk in (1000, 4):
        model.config = dataclasses.replace(model.config, eval_chunk=chunk)
        torch.manual_seed(1)
        log_p = model.log_likelihood(x)
        samples = model.sample(11, generator=torch.Generator().manual_seed(2))
        results.append((log_p, samples, model.encode(x)))
        if cls is ConditionalGlow:  # labels follow their images across chunks
            torch.manual_seed(1)
            results[-1] += (model.log_likelihood(x, labels),)
    whole, chunked = results
    assert whole[0].shape == (11,) and float(whole[0].max()) < 0
    for a, b in zip(chunked, whole):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    torch.manual_seed(3)  # the dequantisation noise is really drawn: another seed, another value
    assert not torch.equal(model.log_likelihood(x), whole[0])
