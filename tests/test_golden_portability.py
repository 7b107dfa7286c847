"""The helpers that make golden values hold on any CPU, thread count and matmul precision (issue #26)."""

from __future__ import annotations

import os

import pytest
import torch

from genbench.data import load_dataset
from genbench.testing import GOLDEN_RTOL, batch_at, float64


def test_float64_sets_and_restores_the_default_dtype() -> None:
    assert torch.get_default_dtype() == torch.float32
    with float64():
        assert torch.get_default_dtype() == torch.float64
        assert torch.nn.Linear(2, 2).weight.dtype == torch.float64
    assert torch.get_default_dtype() == torch.float32
    with pytest.raises(RuntimeError), float64():
        raise RuntimeError("boom")
    assert torch.get_default_dtype() == torch.float32  # restored after an error too


def test_training_batches_follow_the_default_dtype() -> None:
    data = load_dataset("digits")
    assert batch_at(data, 0, 4).x.dtype == torch.float32
    with float64():
        batch = batch_at(data, 0, 4)
    assert batch.x.dtype == torch.float64
    assert torch.equal(batch.x.float(), batch_at(data, 0, 4).x)  # the same images


def test_float64_trajectories_agree_far_inside_the_golden_tolerance() -> None:
    # Two summation orders of the same float64 product: the difference kernels make. It must be far
    # below GOLDEN_RTOL, while float32 (what the goldens used to pin) is not.
    gen = torch.Generator().manual_seed(0)
    a, b = (
        torch.randn(64, 4096, generator=gen, dtype=torch.float64),
        torch.randn(4096, generator=gen, dtype=torch.float64),
    )
    forward, backward = (a * b).sum(1), (a * b).flip(1).sum(1)
    assert float(((forward - backward) / forward).abs().max()) < GOLDEN_RTOL * 1e-3
    f32 = (a.float() * b.float()).sum(1) - (a.float() * b.float()).flip(1).sum(1)
    assert float((f32 / forward.float()).abs().max()) > GOLDEN_RTOL


def test_matmul_precision_comes_from_the_environment() -> None:
    # .ci/run sets GENBENCH_TEST_MATMUL_PRECISION for its second golden run; conftest.py applies it.
    wanted = os.environ.get("GENBENCH_TEST_MATMUL_PRECISION", "highest")
    assert torch.get_float32_matmul_precision() == wanted
