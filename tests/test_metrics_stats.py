"""The statistics behind the feature metrics: closed forms, torchmetrics, torch-fidelity and prdc on one input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

from genbench.errors import GenbenchError
from genbench.metrics.extractors.stats import (
    frechet_distance,
    gaussian_stats,
    kernel_distance,
    kid_subset_size,
    prdc,
    split_score,
)


def random_spd(d: int, seed: int) -> torch.Tensor:
    a = torch.randn(d, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return a @ a.T + 0.1 * torch.eye(d, dtype=torch.float64)


def test_frechet_distance_of_diagonal_gaussians_is_the_closed_form() -> None:
    mu1, mu2 = torch.tensor([0.0, 1.0, -2.0]), torch.tensor([1.0, 1.0, 0.5])
    var1, var2 = torch.tensor([1.0, 4.0, 0.25]), torch.tensor([9.0, 1.0, 0.25])
    expected = float(((mu1 - mu2) ** 2).sum() + ((var1.sqrt() - var2.sqrt()) ** 2).sum())  # = 1 + 6.25 + 4 + 1 + 0
    assert frechet_distance(mu1, torch.diag(var1), mu2, torch.diag(var2)) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(12.25)


def test_frechet_distance_of_full_gaussians_matches_scipy_sqrtm() -> None:
    s1, s2 = random_spd(6, 0), random_spd(6, 1)
    mu1, mu2 = torch.zeros(6, dtype=torch.float64), torch.linspace(-1, 1, 6, dtype=torch.float64)
    root = scipy.linalg.sqrtm(s1.numpy() @ s2.numpy()).real
    expected = float((mu1 - mu2).square().sum() + s1.trace() + s2.trace()) - 2 * float(np.trace(root))
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-10)


def test_frechet_distance_matches_clean_fid_where_its_sqrtm_is_well_posed() -> None:
    from cleanfid.fid import frechet_distance as clean_fid_frechet

    gen = torch.Generator().manual_seed(4)
    a = torch.randn(500, 16, generator=gen, dtype=torch.float64)
    b = torch.rand(400, 16, generator=gen, dtype=torch.float64)
    (mu1, s1), (mu2, s2) = gaussian_stats(a), gaussian_stats(b)
    expected = clean_fid_frechet(mu1.numpy(), s1.numpy(), mu2.numpy(), s2.numpy())
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(float(expected), rel=1e-8)


def test_frechet_distance_from_samples_converges_to_the_closed_form() -> None:
    gen = torch.Generator().manual_seed(0)
    s1, s2 = random_spd(3, 2), random_spd(3, 3)
    mu1, mu2 = torch.tensor([0.0, 0.0, 0.0], dtype=torch.float64), torch.tensor([1.0, 0.0, 2.0], dtype=torch.float64)
    x1 = mu1 + torch.randn(200_000, 3, generator=gen, dtype=torch.float64) @ torch.linalg.cholesky(s1).T
    x2 = mu2 + torch.randn(200_000, 3, generator=gen, dtype=torch.float64) @ torch.linalg.cholesky(s2).T
    exact = frechet_distance(mu1, s1, mu2, s2)
    estimated = frechet_distance(*gaussian_stats(x1), *gaussian_stats(x2))
    assert estimated == pytest.approx(exact, rel=0.02)


def test_frechet_distance_of_identical_sets_is_zero_even_when_singular() -> None:
    feats = torch.randn(20, 64, generator=torch.Generator().manual_seed(0))  # n < d: rank-deficient covariance
    mu, sigma = gaussian_stats(feats)
    # sqrt of rounding-level eigenvalues of the null space leaves ~1e-8 relative, far below any real distance
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-6 * float(sigma.trace())


def test_frechet_distance_of_few_samples_equals_the_low_rank_closed_form() -> None:
    # n < d: Tr (S1 S2)^½ = ||A Bᵀ||_* / √((n1-1)(n2-1)) for centred features A, B.
    gen = torch.Generator().manual_seed(5)
    a = torch.randn(12, 80, generator=gen, dtype=torch.float64)
    b = torch.rand(9, 80, generator=gen, dtype=torch.float64)
    got = frechet_distance(*gaussian_stats(a), *gaussian_stats(b))
    mean_gap = (a.mean(0) - b.mean(0)).square().sum()
    a, b = a - a.mean(0), b - b.mean(0)
    cross = torch.linalg.matrix_norm(a @ b.T, ord="nuc") / (11 * 8) ** 0.5
    expected = float(mean_gap + a.square().sum() / 11 + b.square().sum() / 8 - 2 * cross)
    assert got == pytest.approx(expected, rel=1e-7)  # the null space's rounding-level eigenvalues, square-rooted


def test_gaussian_stats_need_two_samples() -> None:
    with pytest.raises(GenbenchError, match="at least 2"):
        gaussian_stats(torch.randn(1, 4))


class Features(nn.Module):
    """torchmetrics' custom-extractor hook: the 'images' are already feature vectors."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.num_features = d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def test_fid_statistics_match_torchmetrics_on_the_same_features() -> None:
    from torchmetrics.image.fid import FrechetInceptionDistance

    gen = torch.Generator().manual_seed(0)
    real = torch.randn(300, 32, generator=gen)
    fake = 0.8 * torch.randn(250, 32, generator=gen) + 0.3
    tm = FrechetInceptionDistance(feature=Features(32), normalize=True)
    tm.update(real, real=True)
    tm.update(fake, real=False)
    ours = frechet_distance(*gaussian_stats(fake), *gaussian_stats(real))
    assert ours == pytest.approx(float(tm.compute()), rel=1e-4)


def test_kid_matches_torch_fidelity_for_the_same_seed() -> None:
    from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, kid_features_to_metric

    gen = torch.Generator().manual_seed(0)
    real = torch.randn(120, 16, generator=gen)
    fake = 1.2 * torch.randn(90, 16, generator=gen) + 0.2
    kwargs = {"kid_subsets": 20, "kid_subset_size": 50, "rng_seed": 7, "verbose": False}
    expected = kid_features_to_metric(fake, real, **kwargs)[KEY_METRIC_KID_MEAN]
    ours = kernel_distance(fake, real, subsets=20, subset_size=50, seed=7)
    assert ours == pytest.approx(expected, rel=1e-6)
    assert ours > 0.01  # the sets differ, so a constant 0 would fail
    assert kernel_distance(fake, real, subsets=20, subset_size=50, seed=8) != ours  # the seed draws the subsets


def test_kid_of_identical_distributions_is_near_zero_and_small_sets_fit() -> None:
    gen = torch.Generator().manual_seed(1)
    a, b = torch.randn(400, 8, generator=gen), torch.randn(400, 8, generator=gen)
    same = kernel_distance(a, b, seed=1)
    shifted = kernel_distance(a, b + 1.0, seed=1)
    assert abs(same) < 0.02 * shifted
    # n < 1000: the subset is the whole set, never an error
    assert kid_subset_size(5, 7) == 5
    assert math.isfinite(kernel_distance(a[:5], b[:7], subsets=3))
    with pytest.raises(GenbenchError, match="at least 2"):
        kernel_distance(a[:1], b[:7])


def test_inception_score_matches_torch_fidelity_for_the_same_seed() -> None:
    from torch_fidelity.metric_isc import KEY_METRIC_ISC_MEAN, isc_features_to_metric

    for n in (64, 67):  # splits of equal and of unequal sizes
        logits = 3 * torch.randn(n, 10, generator=torch.Generator().manual_seed(n))
        expected = isc_features_to_metric(logits, splits=10, shuffle=True, rng_seed=3)[KEY_METRIC_ISC_MEAN]
        assert split_score(logits, splits=10, seed=3) == pytest.approx(expected, rel=1e-9)


def test_prdc_equals_the_prdc_package() -> None:
    from prdc import compute_prdc

    gen = torch.Generator().manual_seed(0)
    real = torch.randn(300, 12, generator=gen, dtype=torch.float64)
    for fake in (
        1.3 * torch.randn(250, 12, generator=gen, dtype=torch.float64) + 0.3,  # wider and shifted
        0.3 * torch.randn(250, 12, generator=gen, dtype=torch.float64),  # collapsed towards the mode
    ):
        expected = compute_prdc(real.numpy(), fake.numpy(), nearest_k=5)
        ours = prdc(real, fake, k=5, block=64)  # blocks smaller than the sets: the blocking is exercised
        for name in ("precision", "recall", "density", "coverage"):
            assert ours[name] == pytest.approx(float(expected[name]), abs=1e-12), name
    # The collapsed set: faithful (high precision) but not diverse (low recall).
    assert ours["precision"] > 0.9 and ours["recall"] < 0.1


def test_prdc_of_one_set_against_itself_is_perfect() -> None:
    x = torch.randn(200, 8, generator=torch.Generator().manual_seed(1))
    values = prdc(x, x, k=5)
    assert values["precision"] == values["recall"] == values["coverage"] == 1.0
    # Ball i holds its centre and its k - 1 nearer neighbours (strict <): N k hits over N points, / k.
    assert values["density"] == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(GenbenchError, match="at least 6"):
        prdc(x[:5], x, k=5)


def test_classifier_score_bounds() -> None:
    k = 10
    confident = 50.0 * torch.eye(k).repeat(20, 1)  # every class equally often, each image certain
    assert split_score(confident) == pytest.approx(k, rel=1e-6)
    assert split_score(torch.zeros(200, k)) == pytest.approx(1.0, abs=1e-9)  # no class information
    one_class = 50.0 * torch.eye(k)[[3] * 200]  # confident but always the same class
    assert split_score(one_class) == pytest.approx(1.0, abs=1e-6)
