"""The offline classifier extractor and the clf-fd / clf-score / cond-acc metrics on it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from genbench.api.dataset import ImageData
from genbench.api.metric import EvalContext, MetricValue
from genbench.api.model import GenerativeModel
from genbench.data import load_dataset
from genbench.engine.build import build_metric
from genbench.errors import GenbenchError
from genbench.metrics.extractors import classifier
from genbench.metrics.extractors.classifier import (
    CLASSIFIER_SHA256,
    ClassifierExtractor,
    classifier_accuracy,
    load_classifier,
)
from genbench.metrics.extractors.features import SPOT_CHECK
from genbench.metrics.extractors.files import sha256_file
from genbench.plugins import get_plugins

REPO = Path(__file__).resolve().parents[1]


def shared_data() -> Path | None:
    """$GENBENCH_DATA, else ../shared/data beside the repository, when it exists."""
    root = Path(os.environ.get("GENBENCH_DATA") or REPO.parent / "shared" / "data")
    return root if root.is_dir() else None


@pytest.fixture(scope="module")
def digits() -> ImageData:
    return load_dataset("digits")


class Pool(GenerativeModel):
    """Test double: samples are drawn from a fixed pool of images (real ones, or noise)."""

    capabilities = frozenset({"sample", "conditional"})

    def __init__(  # type: ignore[no-untyped-def]
        self, info, x: torch.Tensor, y: torch.Tensor | None = None, follow_labels: bool = True
    ) -> None:
        super().__init__(None, info)
        self.x, self.y, self.follow_labels = x, y, follow_labels

    def sample(self, n, *, labels=None, generator=None):  # type: ignore[no-untyped-def]
        if labels is None or not self.follow_labels or self.y is None:
            return self.x[torch.randperm(len(self.x), generator=generator)[:n]]
        picks = [torch.nonzero(self.y == int(c)).flatten() for c in labels]
        return torch.stack([self.x[p[torch.randint(len(p), (1,), generator=generator)]][0] for p in picks])


def run(name: str, model: GenerativeModel, data: ImageData, n: int, cache_dir: Path) -> MetricValue:
    metric = build_metric(get_plugins().metrics.get(name))
    metric.check(data.name, data.info.shape)
    ctx = EvalContext(model, data, n, torch.device("cpu"), seed=0, batch_size=1000, cache_dir=cache_dir)
    return metric.compute(ctx)


def real_train(data: ImageData) -> Pool:
    return Pool(data.info, ImageData.to_float(data.train_x), data.train_y)


def noise(data: ImageData) -> Pool:
    gen = torch.Generator().manual_seed(0)
    return Pool(data.info, torch.round(torch.rand(1000, *data.info.shape, generator=gen) * 255) / 255)


@pytest.mark.parametrize("dataset", sorted(CLASSIFIER_SHA256))
def test_weights_are_committed_small_and_match_their_pinned_hash(dataset: str) -> None:
    path = classifier.weights_path(dataset)
    assert path.stat().st_size < 600_000
    assert sha256_file(path) == CLASSIFIER_SHA256[dataset]


@pytest.mark.parametrize(("dataset", "minimum"), [("digits", 0.97), ("mnist", 0.99), ("fashion-mnist", 0.91)])
def test_classifier_test_accuracy(dataset: str, minimum: float) -> None:
    root = None
    if dataset != "digits":
        root = shared_data()
        if root is None:
            pytest.skip("no MNIST files: set GENBENCH_DATA or put them in ../shared/data")
    data = load_dataset(dataset, root)
    model, _ = load_classifier(dataset)
    assert classifier_accuracy(model, data.test_x, data.test_y) >= minimum


def test_truncated_foreign_or_unloadable_weights_give_a_clear_error(tmp_path: Path) -> None:
    good = classifier.weights_path("digits")
    truncated = tmp_path / "clf-digits.pt"
    truncated.write_bytes(good.read_bytes()[:5000])
    with pytest.raises(GenbenchError, match=r"truncated or not the right one; restore the file"):
        load_classifier("digits", path=truncated)
    with pytest.raises(GenbenchError, match="clf-digits.pt"):
        load_classifier("digits", path=truncated)
    # Right hash, wrong content (a pickle that is no classifier): refused on load, not with a traceback.
    junk = tmp_path / "junk.pt"
    torch.save({"something": 1}, junk)
    with pytest.raises(GenbenchError, match="cannot load classifier weights"):
        load_classifier("digits", path=junk, sha256=sha256_file(junk))
    with pytest.raises(GenbenchError, match="not found"):
        load_classifier("digits", path=tmp_path / "missing.pt")


def test_check_refuses_datasets_without_a_classifier() -> None:
    for name in ("clf-fd", "clf-score", "cond-acc"):
        metric = build_metric(get_plugins().metrics.get(name))
        with pytest.raises(GenbenchError, match="no offline classifier is shipped for dataset 'cifar10'"):
            metric.check("cifar10", (3, 32, 32))
        with pytest.raises(GenbenchError, match="takes"):
            metric.check("mnist", (1, 8, 8))
        metric.check("digits", (1, 8, 8))


def test_clf_fd_identical_sets_zero_real_halves_far_closer_than_noise(digits: ImageData, tmp_path: Path) -> None:
    test_images = Pool(digits.info, ImageData.to_float(digits.test_x))
    identical = run("clf-fd", test_images, digits, len(digits.test_y), tmp_path)  # the reference set itself
    real = run("clf-fd", real_train(digits), digits, 360, tmp_path)  # disjoint real images
    junk = run("clf-fd", noise(digits), digits, 360, tmp_path)
    assert abs(identical.value) < 1e-6 * junk.value
    assert real.value < 0.05 * junk.value
    assert real.value > 100 * abs(identical.value)  # a different sample of the distribution is not 0

    # Two disjoint halves of the test split, straight through the extractor and the distance.
    from genbench.metrics.extractors.stats import frechet_distance, gaussian_stats

    feats = ClassifierExtractor("digits").extract(ImageData.to_float(digits.test_x), torch.device("cpu"))["features"]
    halves = frechet_distance(*gaussian_stats(feats[::2]), *gaussian_stats(feats[1::2]))
    assert halves < 0.05 * junk.value


def test_clf_score_and_cond_acc_separate_real_from_junk(digits: ImageData, tmp_path: Path) -> None:
    real_score = run("clf-score", real_train(digits), digits, 500, tmp_path).value
    noise_score = run("clf-score", noise(digits), digits, 500, tmp_path).value
    assert 8.0 < real_score <= 10.0 and noise_score < 0.5 * real_score

    follows = run("cond-acc", real_train(digits), digits, 500, tmp_path).value
    ignores = Pool(digits.info, ImageData.to_float(digits.train_x), digits.train_y, follow_labels=False)
    random_labels = run("cond-acc", ignores, digits, 500, tmp_path).value
    assert follows > 0.95 and random_labels < 0.25


def test_reference_statistics_are_cached_on_disk(
    digits: ImageData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    original = ClassifierExtractor.extract

    def counting(self, x, device, what="images"):  # type: ignore[no-untyped-def]
        calls.append(f"{what} x{len(x)}")
        return original(self, x, device, what)

    monkeypatch.setattr(ClassifierExtractor, "extract", counting)
    first = run("clf-fd", real_train(digits), digits, 200, tmp_path)
    assert any(c.startswith("reference") for c in calls)
    assert len(list((tmp_path / "reference").glob("*.pt"))) == 1
    calls.clear()
    second = run("clf-fd", real_train(digits), digits, 200, tmp_path)  # a new evaluation, same cache folder
    # Only the new samples went through the network, and the few reference images that check the cache.
    # Its progress line says it is a cache check, so "0/4" is not read as the whole reference set.
    assert calls == ["samples x200", f"reference images digits/test (cache check, 360 cached) x{SPOT_CHECK}"]
    assert second.value == pytest.approx(first.value, rel=1e-9)
    assert second.fingerprint == first.fingerprint


class Counted(Pool):
    """A Pool that records the labels of every sample call (None: unconditional)."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.calls: list[torch.Tensor | None] = []

    def sample(self, n, *, labels=None, generator=None):  # type: ignore[no-untyped-def]
        self.calls.append(labels)
        return super().sample(n, labels=labels, generator=generator)


def test_a_conditional_model_is_sampled_once_for_every_sample_metric(digits: ImageData, tmp_path: Path) -> None:
    model = Counted(digits.info, ImageData.to_float(digits.train_x), digits.train_y)
    ctx = EvalContext(model, digits, 200, torch.device("cpu"), seed=0, batch_size=50, cache_dir=tmp_path)
    values = {}
    for name in ("clf-fd", "clf-precision", "cond-acc"):
        metric = build_metric(get_plugins().metrics.get(name))
        values[name] = metric.compute(ctx)
    # 200 class-balanced samples in 4 batches, each with its labels; no unconditional draw.
    assert len(model.calls) == 4 and all(labels is not None for labels in model.calls)
    x, labels = ctx.conditional_samples()
    assert ctx.samples() is x and torch.equal(labels, torch.arange(200) % 10)
    assert values["cond-acc"].value > 0.95

    # An unconditional model's samples are drawn without labels; both values rank in one column.
    plain = Counted(digits.info, ImageData.to_float(digits.train_x), digits.train_y)
    plain.capabilities = frozenset({"sample"})
    fp = run("clf-fd", plain, digits, 200, tmp_path).fingerprint
    assert plain.calls == [None] and fp == values["clf-fd"].fingerprint


def test_every_value_carries_its_fingerprint(digits: ImageData, tmp_path: Path) -> None:
    for name in ("clf-fd", "clf-score", "cond-acc"):
        spec = get_plugins().metrics.get(name)
        fp = run(name, real_train(digits), digits, 100, tmp_path).fingerprint
        assert set(spec.fingerprint_fields) <= set(fp), name
        assert fp["extractor"] == "genbench-clf-digits" and fp["weights_sha256"] == CLASSIFIER_SHA256["digits"]
        assert fp["num_samples"] == 100 and fp["metric"] == name
    fp = run("clf-fd", real_train(digits), digits, 100, tmp_path).fingerprint
    assert (fp["reference"], fp["reference_count"]) == ("digits/test", len(digits.test_y))


def test_reference_split_and_count_come_from_the_context(digits: ImageData, tmp_path: Path) -> None:
    model = Pool(digits.info, ImageData.to_float(digits.train_x[:300]))  # samples: 300 of the reference images
    ctx = EvalContext(model, digits, 300, torch.device("cpu"), cache_dir=tmp_path, reference_split="train",
                      reference_count=1000)  # fmt: skip
    for name in ("clf-fd", "clf-precision", "clf-recall", "clf-density", "clf-coverage"):
        fp = build_metric(get_plugins().metrics.get(name)).compute(ctx).fingerprint
        assert (fp["reference"], fp["reference_count"]) == ("digits/train", 1000), name
    # Every sample is one of the reference images, so each lies in a real ball (its own):
    assert build_metric(get_plugins().metrics.get("clf-precision")).compute(ctx).value == 1.0
    ctx.reference_count = 5000
    with pytest.raises(GenbenchError, match="asks for 5000 reference images of digits/train, which has 1437"):
        build_metric(get_plugins().metrics.get("clf-fd")).compute(ctx)


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (torch.full((50, 1, 8, 8), float("nan")), "NaN"),
        (torch.full((50, 1, 8, 8), 2.0), r"\[0, 1\]"),
        (torch.zeros(50, 1, 9, 9), "shape"),
    ],
)
def test_bad_samples_are_refused(digits: ImageData, tmp_path: Path, images: torch.Tensor, message: str) -> None:
    with pytest.raises(GenbenchError, match=message):
        run("clf-fd", Pool(digits.info, images), digits, 20, tmp_path)


def test_too_few_samples_are_refused(digits: ImageData, tmp_path: Path) -> None:
    with pytest.raises(GenbenchError, match="at least 2"):
        run("clf-fd", real_train(digits), digits, 1, tmp_path)
    with pytest.raises(GenbenchError, match="at least 2"):
        run("clf-score", real_train(digits), digits, 1, tmp_path)


def test_extractor_refuses_images_of_another_size() -> None:
    with pytest.raises(GenbenchError, match=r"takes images of shape \(1, 28, 28\)"):
        ClassifierExtractor("mnist").extract(torch.zeros(4, 1, 8, 8), torch.device("cpu"))


def test_training_is_deterministic_and_the_saved_file_loads_back(digits: ImageData, tmp_path: Path) -> None:
    first, acc1 = classifier.train_classifier(digits, epochs=6, batch_size=64, max_shift=1, log=False)
    second, acc2 = classifier.train_classifier(digits, epochs=6, batch_size=64, max_shift=1, log=False)
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values()):
        assert torch.equal(a, b), name
    assert acc1 == acc2 > 0.5  # learning, well above the 0.1 of chance
    path = tmp_path / "clf-digits.pt"
    classifier.save_classifier(first, path, dataset="digits", test_accuracy=acc1)
    loaded, sha = load_classifier("digits", path=path, sha256=sha256_file(path))
    assert classifier_accuracy(loaded, digits.test_x, digits.test_y) == acc1
