"""Intervals, bootstrap, DeLong, tie-sharing ranks and comparisons (genbench.api.uncertainty)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genbench.api.uncertainty import (
    Entry,
    Interval,
    compare_entries,
    delong_interval,
    mean_interval,
    rank_labels,
    recentred_interval,
    resample_counts,
    resolved,
    tied_ranks,
)
from genbench.metrics.extractors.stats import (
    fd_interval,
    frechet_bootstrap,
    frechet_distance,
    frechet_extrapolated,
    gaussian_stats,
    prdc,
    prdc_points,
)


def test_interval_of_a_mean_equals_scipys_t_interval():
    from scipy import stats

    x = np.array([2.1, 3.4, 1.9, 5.0, 4.2, 3.3, 2.8, 3.9])
    expected = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    got = mean_interval(x)
    assert got is not None and got.method == "t"
    assert (got.low, got.high) == pytest.approx(expected, rel=1e-12)
    assert mean_interval([1.0]) is None  # one value: no interval, never a zero-width one


def test_bootstrap_is_seeded_and_reproducible():
    a, b = resample_counts(50, 20, seed=3), resample_counts(50, 20, seed=3)
    assert np.array_equal(a, b) and not np.array_equal(a, resample_counts(50, 20, seed=4))
    assert (a.sum(axis=1) == 50).all()  # each resample draws n items
    gen = torch.Generator().manual_seed(0)
    fake, real = torch.randn(300, 6, generator=gen), torch.randn(200, 6, generator=gen) + 0.5
    r1 = frechet_bootstrap(fake, real, seed=7, resamples=40)
    assert np.array_equal(r1, frechet_bootstrap(fake, real, seed=7, resamples=40))
    assert not np.array_equal(r1, frechet_bootstrap(fake, real, seed=8, resamples=40))


def test_batched_bootstrap_equals_the_fd_of_each_explicit_resample():
    gen = torch.Generator().manual_seed(1)
    fake, real = torch.randn(120, 5, generator=gen) * 1.3, torch.randn(90, 5, generator=gen) + 0.2
    replicates = frechet_bootstrap(fake, real, seed=2, resamples=5)
    counts = resample_counts(len(fake), 5, 2).astype(np.int64)
    for b in range(5):
        rows = torch.from_numpy(np.repeat(np.arange(len(fake)), counts[b]))
        explicit = frechet_distance(*gaussian_stats(fake[rows]), *gaussian_stats(real))
        assert replicates[b] == pytest.approx(explicit, rel=1e-5)  # the second moments are summed in float32


def test_bootstrap_with_fewer_samples_than_dimensions_equals_the_fd_of_each_explicit_resample():
    # N < D (40 Inception features of 2,048 dimensions in the torch-fidelity test) takes the N x N path.
    gen = torch.Generator().manual_seed(3)
    fake, real = torch.randn(12, 30, generator=gen) * 1.2, torch.randn(80, 30, generator=gen) + 0.1
    replicates = frechet_bootstrap(fake, real, seed=4, resamples=6)
    counts = resample_counts(len(fake), 6, 4).astype(np.int64)
    for b in range(6):
        rows = torch.from_numpy(np.repeat(np.arange(len(fake)), counts[b]))
        explicit = frechet_distance(*gaussian_stats(fake[rows]), *gaussian_stats(real))
        assert replicates[b] == pytest.approx(explicit, rel=1e-6)


def test_fd_interval_is_centred_on_the_value_not_on_the_upward_biased_replicates():
    gen = torch.Generator().manual_seed(2)
    fake, real = torch.randn(200, 16, generator=gen), torch.randn(400, 16, generator=gen)
    value = frechet_distance(*gaussian_stats(fake), *gaussian_stats(real))
    replicates = frechet_bootstrap(fake, real, seed=0)
    assert replicates.mean() > value  # duplicates in a resample shrink the effective count: FD* is biased up
    interval = fd_interval(value, fake, real, seed=0)
    assert interval is not None and interval.contains(value)
    naive_low = np.quantile(replicates, 0.025)
    assert naive_low > interval.low  # a plain percentile interval would sit higher
    assert interval.half_width == pytest.approx(1.959964 * replicates.std(ddof=1), rel=1e-6)
    shifted = recentred_interval(value, replicates, "x")
    assert shifted == Interval(interval.low, interval.high, "x")


def test_fd_interval_covers_other_draws_of_the_samples():
    """Another draw of samples from the same model lands inside most 95% intervals of a first draw.

    A perfect 95% interval of the expected FD holds another draw's value with probability about
    P(|Z| < 1.96 / √2) = 83% (both draws are noisy), so 40 pairs should give about 33 hits."""
    gen = torch.Generator().manual_seed(3)
    real = torch.randn(500, 8, generator=gen)
    hits = 0
    for _ in range(40):
        first, other = torch.randn(400, 8, generator=gen) + 0.3, torch.randn(400, 8, generator=gen) + 0.3
        value = frechet_distance(*gaussian_stats(first), *gaussian_stats(real))
        interval = fd_interval(value, first, real, seed=0)
        assert interval is not None
        hits += interval.contains(frechet_distance(*gaussian_stats(other), *gaussian_stats(real)))
    assert 26 <= hits <= 40


def test_fd_inf_removes_the_small_sample_bias():
    """Gaussian features: FD_N is biased upward by about Tr(S)/N; the 1/N intercept lands closer to the truth."""
    gen = torch.Generator().manual_seed(4)
    d = 32
    real = torch.randn(100_000, d, generator=gen)  # the reference: its statistics are essentially exact
    fake = torch.randn(300, d, generator=gen) * 1.1 + 0.1
    truth = d * 0.1**2 + d * (1.1 - 1.0) ** 2  # ||mu||² + Tr(S1 + S2 - 2 (S1 S2)^½) for S1 = 1.21 I, S2 = I
    fixed_n = frechet_distance(*gaussian_stats(fake), *gaussian_stats(real))
    value, interval, sizes, means = frechet_extrapolated(fake, real, seed=0)
    assert list(sizes) == [150, 180, 210, 240, 270, 300]
    assert means[0] > means[-1]  # fewer samples, larger FD
    assert abs(value - truth) < 0.5 * abs(fixed_n - truth)
    assert interval is not None and interval.low < value < interval.high


def _delong_reference(neg: np.ndarray, pos: np.ndarray) -> tuple[float, float]:
    """DeLong et al. 1988 written out with the pairwise kernel psi (O(m n)): AUC and its variance."""
    psi = (pos[:, None] > neg[None, :]).astype(float) + 0.5 * (pos[:, None] == neg[None, :])
    auc = psi.mean()
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return auc, v10.var(ddof=1) / len(pos) + v01.var(ddof=1) / len(neg)


def test_delong_equals_the_pairwise_definition_and_sklearn_auc():
    from scipy.stats import norm
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    neg = np.round(rng.normal(0, 1, 60), 1)  # rounding makes ties, which count one half
    pos = np.round(rng.normal(0.8, 1, 45), 1)
    auc, interval = delong_interval(neg, pos)
    ref_auc, ref_var = _delong_reference(neg, pos)
    labels = np.r_[np.zeros(len(neg)), np.ones(len(pos))]
    assert auc == pytest.approx(ref_auc, abs=1e-12) == pytest.approx(roc_auc_score(labels, np.r_[neg, pos]))
    half = norm.ppf(0.975) * ref_var**0.5
    assert interval is not None and interval.method == "delong"
    assert (interval.low, interval.high) == pytest.approx((auc - half, auc + half), abs=1e-12)
    # Hanley & McNeil's textbook case: perfect separation has AUC 1 and a zero-width interval.
    auc, interval = delong_interval(np.array([0.1, 0.2, 0.3]), np.array([0.5, 0.6]))
    assert auc == 1.0 and interval == Interval(1.0, 1.0, "delong")


def test_prdc_points_average_to_prdc():
    gen = torch.Generator().manual_seed(5)
    real, fake = torch.randn(80, 4, generator=gen), torch.randn(70, 4, generator=gen) + 0.3
    points = prdc_points(real, fake, k=3)
    assert {k: float(v.mean()) for k, v in points.items()} == pytest.approx(prdc(real, fake, k=3))
    assert len(points["precision"]) == 70 and len(points["recall"]) == 80


def e(values, seeds=None, half=None):
    seeds = tuple(seeds if seeds is not None else range(len(values)))
    ivs = tuple(None if half is None else Interval(v - half, v + half, "t") for v in values)
    return Entry(tuple(values), seeds, ivs)


def test_tie_rule_on_constructed_cases():
    # Single seeds: resolved when the evaluation intervals do not overlap.
    assert resolved(e([1.0], half=0.1), e([1.5], half=0.1))
    assert not resolved(e([1.0], half=0.3), e([1.5], half=0.3))
    assert not resolved(e([1.0]), e([5.0]))  # no interval: nothing is resolved
    # Matching seeds: paired differences. B is A + 0.1 on every seed (a consistent gain) although
    # the seed spread is large: pairing resolves what overlapping intervals would not.
    a = e([1.0, 3.0, 5.0, 2.0], half=0.01)
    b = e([1.1, 3.12, 5.09, 2.11], half=0.01)
    assert a.interval().high > b.interval().low  # the seed intervals overlap...
    assert resolved(a, b)  # ...but the paired differences exclude 0
    noisy = e([1.2, 2.8, 5.3, 1.9], half=0.01)
    assert not resolved(a, noisy)  # differences of both signs
    # Ranks: 1 + the number resolved better; unresolved neighbours share a rank.
    rows = [e([1.0], half=0.1), e([1.15], half=0.1), e([1.3], half=0.1), e([3.0], half=0.1)]
    ranks = tied_ranks(rows, "min")
    assert ranks == [1, 1, 2, 4]  # 1.0~1.15 and 1.15~1.3 overlap; 1.0 vs 1.3 is resolved
    assert rank_labels(ranks) == ["1=", "1=", "2", "4"]
    assert tied_ranks(rows, "max") == [3, 2, 2, 1]


def test_compare_gives_the_difference_its_interval_and_probability_of_improvement():
    a = e([1.0, 3.0, 5.0, 2.0], half=0.01)
    b = e([1.1, 3.12, 5.09, 2.11], half=0.01)
    c = compare_entries(a, b, "min")
    assert c.difference == pytest.approx(-0.105) and c.paired_seeds == 4 and c.interval.method == "paired-t"
    from scipy import stats

    d = np.array([-0.1, -0.12, -0.09, -0.11])
    expected = stats.t.interval(0.95, 3, loc=d.mean(), scale=stats.sem(d))
    assert (c.interval.low, c.interval.high) == pytest.approx(expected)
    assert c.p_better > 0.99  # a is lower on every seed, far beyond the evaluation noise
    # One seed each, no seeds in common, equal values: a coin flip; the interval from both evaluation intervals.
    c = compare_entries(e([2.0], seeds=[0], half=0.2), e([2.0], seeds=[1], half=0.2), "max")
    assert c.p_better == pytest.approx(0.5, abs=0.02) and c.interval.method == "eval-normal"
    assert (c.interval.low, c.interval.high) == pytest.approx((-0.2 * 2**0.5, 0.2 * 2**0.5))
    assert compare_entries(a, b, "min") == compare_entries(a, b, "min")  # seeded


def test_kid_standard_error_matches_the_spread_over_draws_of_the_samples():
    from genbench.metrics.extractors.stats import kernel_distance, kernel_distance_se

    gen = torch.Generator().manual_seed(6)
    real = torch.randn(400, 8, generator=gen)
    values, errors = [], []
    for i in range(40):
        fake = torch.randn(400, 8, generator=gen) * 1.2 + 0.3
        value, se = kernel_distance_se(fake, real, subsets=20, subset_size=200, seed=i)
        assert value == kernel_distance(fake, real, subsets=20, subset_size=200, seed=i)  # the same KID
        values.append(value)
        errors.append(se)
    ratio = float(np.mean(errors)) / float(np.std(values, ddof=1))
    assert 0.6 < ratio < 1.6, ratio  # the first-order error is the spread another draw of samples gives


def test_score_bootstrap_equals_the_score_of_each_explicit_resample():
    from genbench.api.uncertainty import recentred_interval
    from genbench.metrics.extractors.stats import score_interval, split_score

    gen = torch.Generator().manual_seed(7)
    logits = torch.randn(300, 10, generator=gen) * 3
    counts = resample_counts(300, 100, 3).astype(np.int64)
    explicit = [split_score(logits[torch.from_numpy(np.repeat(np.arange(300), c))], splits=1) for c in counts]
    expected = recentred_interval(split_score(logits, splits=1), np.array(explicit), "bootstrap-100")
    got = score_interval(logits, splits=1, seed=3)
    assert got is not None and expected is not None
    assert (got.low, got.high) == pytest.approx((expected.low, expected.high), rel=1e-9)


def test_proportion_interval_is_wilsons_and_keeps_a_width_at_0_and_1():
    from genbench.api.uncertainty import proportion_interval, tied_ranks

    # 8 of 10: Wilson's 95% interval is [0.4902, 0.9433] (the textbook example).
    eight = proportion_interval(8, 10)
    assert eight is not None and eight.method == "wilson"
    assert eight.low == pytest.approx(0.49016, abs=1e-4) and eight.high == pytest.approx(0.94332, abs=1e-4)
    # At the ends: z^2 / (n + z^2) wide, not zero.
    none, every = proportion_interval(0, 5000), proportion_interval(5000, 5000)
    assert none is not None and every is not None
    assert none.low == 0 and none.high == pytest.approx(1.95996**2 / (5000 + 1.95996**2), rel=1e-4)
    assert every.high == 1 and every.low == pytest.approx(1 - none.high, rel=1e-6)
    assert proportion_interval(0, 0) is None
    # A translator at 1 and doing nothing at 0 no longer share a rank.
    from genbench.api.uncertainty import Entry

    entries = [Entry((1.0,), (0,), (every,)), Entry((0.0,), (0,), (none,))]
    assert tied_ranks(entries, "max") == [1, 2]
