"""genbench.api's per-item noise: what makes a Monte Carlo bound independent of the batch size."""

from __future__ import annotations

import pytest
import torch

from genbench.api import normal_from_uniform, normal_per_item, uniform_per_item


@pytest.mark.parametrize("shape", [(3, 7), (1,), (64, 32)])
def test_items_drawn_in_two_batches_equal_one_batch(shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    whole = normal_per_item(5, shape)
    torch.manual_seed(0)
    parts = torch.cat([normal_per_item(2, shape), normal_per_item(3, shape)])
    assert torch.equal(whole, parts)
    # torch.randn fills blocks of 16 values, so the same split of its draws does not agree.
    torch.manual_seed(0)
    a = torch.randn(5, 3, 7)
    torch.manual_seed(0)
    assert not torch.equal(a, torch.cat([torch.randn(2, 3, 7), torch.randn(3, 3, 7)]))


def test_per_item_noise_is_standard_normal_and_uniform() -> None:
    torch.manual_seed(1)
    z = normal_per_item(200_000, (2,))
    assert z.dtype == torch.float32 and z.shape == (200_000, 2)
    z = z.double()
    assert abs(float(z.mean())) < 0.01 and abs(float(z.std()) - 1) < 0.01
    assert abs(float((z**4).mean()) - 3) < 0.05  # Gaussian kurtosis, not a uniform's 1.8
    u = uniform_per_item(100_000, ())
    assert u.dtype == torch.float64 and 0 <= float(u.min()) and float(u.max()) < 1
    # The inverse CDF maps 0 to a finite value and 1/2 to 0.
    edges = normal_from_uniform(torch.tensor([0.0, 0.5, 1 - 2**-53], dtype=torch.float64))
    assert torch.isfinite(edges).all() and float(edges[1]) == 0.0
    assert float(edges[0]) < -8 and float(edges[2]) > 8
