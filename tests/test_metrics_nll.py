"""NLL in bits/dim under the one dequantisation convention, and top-1 accuracy."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch

from genbench.api.dataset import ImageData
from genbench.api.metric import EvalContext, MetricValue
from genbench.api.model import GenerativeModel
from genbench.data import load_dataset
from genbench.engine.build import build_metric
from genbench.errors import GenbenchError
from genbench.metrics import nll
from genbench.plugins import get_plugins


@pytest.fixture(scope="module")
def digits() -> ImageData:
    return load_dataset("digits")


class DiscreteUniform(GenerativeModel):
    """P(k) = 256^-D: every 8-bit image equally likely."""

    capabilities = frozenset({"log_likelihood"})

    def log_likelihood(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return torch.full((len(x),), -x[0].numel() * math.log(256), dtype=torch.float64)


class ContinuousDensity(GenerativeModel):
    """A density on [0, 1]^D with independent dimensions, scored through the dequantise path."""

    capabilities = frozenset({"log_likelihood"})

    def __init__(self, info, log_density) -> None:  # type: ignore[no-untyped-def]
        super().__init__(None, info)
        self.log_density = log_density  # u -> log p(u), elementwise

    def log_likelihood(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        u = nll.dequantize(x, generator=torch.Generator().manual_seed(0))
        log_p_u = self.log_density(u).flatten(1).sum(dim=1)
        return nll.discrete_log_prob_from_density(log_p_u, x[0].numel())


class Returns(GenerativeModel):
    capabilities = frozenset({"log_likelihood", "classify"})

    def __init__(self, info, fn) -> None:  # type: ignore[no-untyped-def]
        super().__init__(None, info)
        self.fn = fn

    def log_likelihood(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        self.labels = y
        return self.fn(x)

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


def evaluate(
    name: str,
    model: GenerativeModel,
    data: ImageData,
    num_samples: int = 10_000,
    batch_size: int = 100,
    test_count: int = 0,
) -> MetricValue:
    metric = build_metric(get_plugins().metrics.get(name))
    ctx = EvalContext(model, data, num_samples, torch.device("cpu"), batch_size=batch_size, test_count=test_count)
    return metric.compute(ctx)


def test_uniform_discrete_model_scores_exactly_8_bits_per_dim(digits: ImageData) -> None:
    value = evaluate("nll", DiscreteUniform(None, digits.info), digits)
    assert value.value == pytest.approx(8.0, abs=1e-12)
    assert value.fingerprint["reference_count"] == len(digits.test_y)
    assert value.fingerprint["dequantization"] == nll.CONVENTION


def test_uniform_density_through_the_dequantise_path_scores_8_bits_per_dim(digits: ImageData) -> None:
    model = ContinuousDensity(digits.info, lambda u: torch.zeros_like(u))  # p(u) = 1 on [0, 1]^D
    assert evaluate("nll", model, digits).value == pytest.approx(8.0, abs=1e-6)  # float32 log p


def test_dequantised_bound_lies_below_the_exact_discrete_likelihood(digits: ImageData) -> None:
    # p(u) = 2u per dimension: the exact P(k) = ((k+1)² - k²) / 256² = (2k + 1) / 65536, and by
    # Jensen E log p(u) - D log 256 is a lower bound on log P(k): loose near u = 0, where log p bends.
    x = ImageData.to_float(digits.test_x[:200])
    k = nll.to_levels(x).double()
    exact = (torch.log(2 * k + 1) - math.log(65536)).flatten(1).sum(1)
    exact_bpd = float(nll.bits_per_dim(exact.mean(), 64))
    got = evaluate("nll", ContinuousDensity(digits.info, lambda u: torch.log(2 * u)), digits, test_count=200).value
    assert got > exact_bpd + 0.1  # more bits/dim: the bound is below the true log P

    # p(u) = (1 + u) / 1.5 is nearly flat on each cell, so the bound is tight:
    # P(k) = (1/1.5) (1/256) (1 + (2k + 1) / 512).
    exact = (torch.log((1 + (2 * k + 1) / 512) / 1.5) - math.log(256)).flatten(1).sum(1)
    exact_bpd = float(nll.bits_per_dim(exact.mean(), 64))
    got = evaluate("nll", ContinuousDensity(digits.info, lambda u: torch.log((1 + u) / 1.5)), digits, test_count=200)
    assert got.value == pytest.approx(exact_bpd, abs=1e-3)


def test_dequantize_stays_in_the_cell_of_each_level() -> None:
    k = torch.arange(256, dtype=torch.float32).repeat(50)
    x = k / 255
    assert torch.equal(nll.to_levels(x), k.long())
    u = nll.dequantize(x, generator=torch.Generator().manual_seed(0))
    assert ((u >= k / 256) & (u < (k + 1) / 256)).all()


def test_nll_uses_the_benchmarks_test_count_not_num_samples(digits: ImageData) -> None:
    seen: list[int] = []

    def fn(x: torch.Tensor) -> torch.Tensor:
        seen.append(len(x))
        return torch.full((len(x),), -64 * math.log(256))

    model = Returns(digits.info, fn)
    value = evaluate("nll", model, digits, num_samples=10, batch_size=64, test_count=150)
    assert seen[:3] == [64, 64, 22]
    assert sum(seen[3:]) == 150  # then the Gibbs check's noise images: as many, NOISE_IMAGES at most
    assert model.labels is None  # no labels: every model reports log P(x), never log P(x|y)
    assert value.fingerprint["reference_count"] == 150
    seen.clear()  # no count (the standard budget): the whole test set, however few samples are drawn
    assert evaluate("nll", model, digits, num_samples=10, batch_size=500).fingerprint["reference_count"] == 360
    assert seen[0] == 360 and sum(seen[1:]) == nll.NOISE_IMAGES


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (lambda x: torch.zeros(len(x), 2), "one value per image"),
        (lambda x: torch.full((len(x),), float("nan")), "NaN"),
        (lambda x: torch.full((len(x),), 5.0), "> 0 nats"),  # a density reported as a probability
    ],
)
def test_nll_refuses_impossible_log_likelihoods(digits: ImageData, fn: Callable, message: str) -> None:
    with pytest.raises(GenbenchError, match=message):
        evaluate("nll", Returns(digits.info, fn), digits)


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: torch.zeros(len(x)),  # log p(u) of the uniform density, the -D log 256 forgotten
        lambda x: torch.full((len(x),), -math.log(256)),  # a per-dimension mean where a sum belongs
    ],
)
def test_nll_refuses_a_likelihood_that_beats_8_bits_on_noise(digits: ImageData, fn: Callable) -> None:
    with pytest.raises(GenbenchError, match=r"uniformly random 8-bit images .* bits/dim, below the 8"):
        evaluate("nll", Returns(digits.info, fn), digits)


def test_nll_records_the_noise_check_outside_the_fingerprint_hash(digits: ImageData) -> None:
    from genbench.api.metric import fingerprint_hash

    value = evaluate("nll", DiscreteUniform(None, digits.info), digits)
    # digits' 360 test images: the check scores NOISE_IMAGES (300) noise images; all score exactly
    # 8 bits/dim, so the slack is the floor NOISE_SLACK.
    assert value.fingerprint["observed"] == {"noise_bits_per_dim": 8.0, "noise_images": 300, "noise_slack": 0.01}
    # 300 noise images: the fingerprint (and so its hash) is what it was before the count scaled.
    assert value.fingerprint["noise_check"] == "300 uniform 8-bit images from eval seed + 7919, >= 8 bits/dim"
    other = dict(value.fingerprint, observed={"noise_bits_per_dim": 9.5})
    assert fingerprint_hash(other) == fingerprint_hash(value.fingerprint)
    assert fingerprint_hash(dict(value.fingerprint, reference_count=1)) != fingerprint_hash(value.fingerprint)


def test_the_noise_check_scores_as_many_noise_images_as_test_images_and_reports_progress(digits: ImageData) -> None:
    from genbench.api.metric import EvalContext

    seen: list[tuple[str, int, int]] = []
    ctx = EvalContext(DiscreteUniform(None, digits.info), digits, num_samples=10, device=torch.device("cpu"),
                      test_count=40, batch_size=16, progress=lambda t, d, n: seen.append((t, d, n)))  # fmt: skip
    from genbench.api.metric import _ACTIVE
    from genbench.engine.build import build_metric
    from genbench.plugins import get_plugins

    token = _ACTIVE.set(ctx)  # as the engine's evaluate() does, so helpers can report progress
    try:
        value = build_metric(get_plugins().metrics.get("nll")).compute(ctx)
    finally:
        _ACTIVE.reset(token)
    assert value.fingerprint["observed"]["noise_images"] == 40 and value.fingerprint["reference_count"] == 40
    assert value.fingerprint["noise_check"].startswith("40 uniform 8-bit images")
    noise = [(d, n) for t, d, n in seen if t == "nll: uniform-noise images (Gibbs check)"]
    assert noise == [(0, 40), (16, 40), (32, 40), (40, 40)]
    assert [nll.noise_count(n) for n in (1, 8, 30, 100, 300, 2000)] == [30, 30, 30, 100, 300, 300]


def test_the_noise_checks_slack_is_a_one_sided_t_bound_on_the_mean() -> None:
    from scipy.stats import t

    bits = torch.tensor([7.0, 9.0, 8.5, 6.5, 10.0, 8.0, 7.5, 9.5], dtype=torch.float64)
    s = math.sqrt(sum((b - 8.25) ** 2 for b in bits.tolist()) / 7)  # mean 8.25, n - 1 = 7
    assert nll.noise_slack(bits) == pytest.approx(t.ppf(1 - nll.NOISE_FALSE_ALARM, 7) * s / math.sqrt(8), rel=1e-12)
    assert nll.noise_slack(torch.full((30,), 8.0, dtype=torch.float64)) == nll.NOISE_SLACK  # no spread: the floor
    with pytest.raises(GenbenchError, match="at least 2 noise images"):
        nll.noise_slack(torch.tensor([8.0], dtype=torch.float64))


def noisy_bound(digits: ImageData, mean_bits: float, seed: int) -> Returns:
    """A bound estimated by Monte Carlo: each image's bits/dim is ``mean_bits`` plus N(0, 3²) (a tiny
    DDPM's 3-timestep bound spreads about 3 bits/dim per noise image), drawn in order from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    dims = math.prod(digits.info.shape)

    def fn(x: torch.Tensor) -> torch.Tensor:
        bits = (mean_bits + 3.0 * torch.randn(len(x), generator=gen, dtype=torch.float64)).clamp_min(0.1)
        return -bits * dims * math.log(2)

    return Returns(digits.info, fn)


def test_a_noisy_normalised_bound_on_few_noise_images_passes_and_a_wrong_one_fails(digits: ImageData) -> None:
    # 8 test images (the tiny CIFAR-10 test's) -> NOISE_MIN = 30 noise images. Seed 14 draws noise
    # images whose mean is 7.63 bits/dim: a normalised model (8.5 in expectation) unlucky by chance,
    # which a fixed slack of 0.01 refused; the slack measured from their spread (2.4) does not.
    value = evaluate("nll", noisy_bound(digits, 8.5, seed=14), digits, test_count=8)
    observed = value.fingerprint["observed"]
    assert observed["noise_images"] == 30 and observed["noise_bits_per_dim"] < 7.7
    assert 1.0 < observed["noise_slack"] < 2.5
    # The same noise around 0.5 bits/dim (a density reported without its -D log 256) still fails.
    with pytest.raises(GenbenchError, match=r"30 uniformly random 8-bit images .* below the 8"):
        evaluate("nll", noisy_bound(digits, 0.5, seed=14), digits, test_count=8)


def test_noise_images_are_uniform_8_bit_and_seeded() -> None:
    a = nll.uniform_noise_images(300, (1, 8, 8), seed=5)
    assert torch.equal(a, nll.uniform_noise_images(300, (1, 8, 8), seed=5))
    assert not torch.equal(a, nll.uniform_noise_images(300, (1, 8, 8), seed=6))
    k = nll.to_levels(a)
    assert torch.equal(k.float() / 255, a)
    assert int(k.min()) == 0 and int(k.max()) == 255 and abs(float(k.double().mean()) - 127.5) < 2


def test_accuracy_counts_top1_against_the_test_labels(digits: ImageData) -> None:
    always_three = Returns(digits.info, lambda x: torch.eye(10)[[3] * len(x)])
    value = evaluate("accuracy", always_three, digits, batch_size=64)
    assert value.value == pytest.approx(float((digits.test_y == 3).double().mean()))
    assert value.fingerprint["reference_count"] == len(digits.test_y)

    lookup = {bytes(img.numpy()): int(label) for img, label in zip(digits.test_x, digits.test_y)}

    def oracle(x: torch.Tensor) -> torch.Tensor:
        levels = nll.to_levels(x).to(torch.uint8)
        return torch.eye(10)[[lookup[bytes(img.numpy())] for img in levels]]

    assert evaluate("accuracy", Returns(digits.info, oracle), digits, batch_size=64).value == 1.0


def test_accuracy_refuses_logits_of_the_wrong_shape(digits: ImageData) -> None:
    with pytest.raises(GenbenchError, match="logits of shape"):
        evaluate("accuracy", Returns(digits.info, lambda x: torch.zeros(len(x), 3)), digits)


def test_nll_and_accuracy_carry_the_t_interval_of_their_per_image_values(digits: ImageData) -> None:
    """The interval is scipy's t-interval of the per-image bits/dim (accuracy: of the 0/1 hits)."""
    from scipy import stats

    d = digits.test_x[0].numel()

    def varying(x: torch.Tensor) -> torch.Tensor:  # a different log P per image: brighter images cost more
        return -d * math.log(256) * (1.0 + 0.5 * x.flatten(1).mean(1).double())

    value = evaluate("nll", Returns(digits.info, varying), digits, batch_size=64)
    bits = [float(nll.bits_per_dim(varying(digits.to_float(img[None]))[0], d)) for img in digits.test_x]
    expected = stats.t.interval(0.95, len(bits) - 1, loc=sum(bits) / len(bits), scale=stats.sem(bits))
    assert value.interval is not None and value.interval.method == "t"
    assert (value.interval.low, value.interval.high) == pytest.approx(expected, rel=1e-9)
    assert value.interval.contains(value.value)

    always_three = Returns(digits.info, lambda x: torch.eye(10)[[3] * len(x)])
    acc = evaluate("accuracy", always_three, digits, batch_size=64)
    hits = (digits.test_y == 3).double().numpy()
    expected = stats.t.interval(0.95, len(hits) - 1, loc=hits.mean(), scale=stats.sem(hits))
    assert acc.interval is not None and (acc.interval.low, acc.interval.high) == pytest.approx(expected)
