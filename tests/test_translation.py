"""Two-domain datasets and the translation metrics on constructed cases."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from genbench.api.dataset import DataInfo, ImageData
from genbench.api.metric import EvalContext, MetricValue
from genbench.api.model import GenerativeModel
from genbench.api.translation import check_direction, translation_context
from genbench.data import load_dataset, pairs
from genbench.engine.build import build_metric
from genbench.errors import GenbenchError
from genbench.metrics.extractors.classifier import classifier_accuracy
from genbench.metrics.translation import TranslationFD
from genbench.plugins import get_plugins

# -- datasets -----------------------------------------------------------------------------------


def test_digits2color_is_two_disjoint_halves_with_paired_test_images() -> None:
    base = load_dataset("digits")
    d = load_dataset("digits2color")
    assert d.has_domain_b and d.paired_test and d.info.shape == (3, 8, 8)
    assert len(d.train_y) + len(d.train_b_y) == len(base.train_y)
    # Domain A is a set of base training images (grey over three channels) ...
    order = torch.randperm(len(base.train_y), generator=torch.Generator().manual_seed(pairs.SPLIT_SEED))
    a_idx, b_idx = order[: len(order) // 2].sort().values, order[len(order) // 2 :].sort().values
    assert not set(a_idx.tolist()) & set(b_idx.tolist())
    assert torch.equal(d.train_x, pairs.grey_to_rgb(base.train_x[a_idx]))
    # ... and domain B the recolouring of the others, so no training image is in both domains.
    assert torch.equal(d.train_b_x, pairs.recolour(base.train_x[b_idx], pairs.TRAIN_COLOUR_SEED))
    # Each test image's counterpart is its recolouring (evaluation only).
    assert torch.equal(d.test_b_x, pairs.recolour(base.test_x, pairs.TEST_COLOUR_SEED))
    assert torch.equal(d.test_y, d.test_b_y)
    assert torch.equal(load_dataset("digits2color").train_b_x, d.train_b_x)  # deterministic


def test_recolour_keeps_the_stroke_visible_and_coloured() -> None:
    x = torch.zeros(200, 1, 8, 8, dtype=torch.uint8)
    x[:, :, 2:6, 3:5] = 255  # a bar
    y = pairs.recolour(x, 7).float() / 255
    stroke, background = y[:, :, 2:6, 3:5].mean((2, 3)), y[:, :, 0, 0]
    assert ((stroke - background).abs() >= 0.1).all(), "a channel of stroke and background came out alike"
    assert (y.std(dim=1) > 0.01).float().mean() > 0.9, "not coloured: channels equal"
    assert not torch.equal(pairs.recolour(x, 7), pairs.recolour(x, 8))


def test_image_data_refuses_half_a_second_domain() -> None:
    d = load_dataset("digits")
    with pytest.raises(ValueError, match="two-domain"):
        ImageData("x", d.train_x, d.train_y, d.test_x, d.test_y, 10, train_b_x=d.train_x)


def _write_folder_pair(root: Path, name: str) -> None:
    from PIL import Image

    for split, n in (("trainA", 3), ("trainB", 4), ("testA", 2), ("testB", 2)):
        (root / name / split).mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (20, 24), (i * 40, 100, 200)).save(root / name / split / f"{i}.jpg")


def test_folder_pair_in_the_reference_layout(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GENBENCH_CACHE", str(tmp_path / "cache"))
    _write_folder_pair(tmp_path, "horse2zebra")
    d = pairs.load_folder_pair("horse2zebra", tmp_path, size=16)
    assert d.train_x.shape == (3, 3, 16, 16) and d.train_b_x.shape == (4, 3, 16, 16)
    assert d.test_x.shape == (2, 3, 16, 16) and d.test_b_x.shape == (2, 3, 16, 16)
    assert not d.paired_test


def test_folder_pair_offline_without_files_is_one_line(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GENBENCH_CACHE", str(tmp_path / "cache"))

    def offline(name: str, root: Path) -> None:
        raise OSError("network unreachable")

    monkeypatch.setattr(pairs, "_download", offline)
    (tmp_path / "horse2zebra" / "trainA").mkdir(parents=True)  # incomplete
    with pytest.raises(GenbenchError) as err:
        load_dataset("horse2zebra", tmp_path)
    message = str(err.value)
    assert "\n" not in message and "{trainA,trainB,testA,testB}" in message and "download failed" in message


# -- metrics on constructed cases -------------------------------------------------------------


class Translator(GenerativeModel):
    """Identity, or a roll of the batch by one (every image replaced by another one's)."""

    capabilities = frozenset({"translate"})

    def __init__(self, info: DataInfo, roll: bool = False) -> None:
        super().__init__(None, info)
        self.roll = roll

    def translate(self, x: torch.Tensor, direction: str) -> torch.Tensor:
        check_direction(direction)
        return x.roll(1, 0) if self.roll else x.clone()


def same_domains(direction: str) -> ImageData:
    """digits2color with both domains set to the target domain's test images its classifier gets right."""
    from genbench.metrics.translation import _TargetClassifierMetric

    d = load_dataset("digits2color")
    target = direction[-1]
    spec = get_plugins().metrics.get(f"translate-acc-{direction}")
    clf = _TargetClassifierMetric(spec).extractor_for("digits2color").model
    x, y = (d.test_x, d.test_y) if target == "a" else (d.test_b_x, d.test_b_y)
    with torch.no_grad():
        right = clf(ImageData.to_float(x)).argmax(1) == y
    x, y = x[right], y[right]
    return ImageData("digits2color", x, y, x, y, 10, train_b_x=x, train_b_y=y, test_b_x=x, test_b_y=y, paired_test=True)


def score(name: str, model: GenerativeModel, data: ImageData, tmp_path: Path) -> float:
    metric = build_metric(get_plugins().metrics.get(name))
    metric.check(data.name, data.info.shape)
    ctx = EvalContext(model, data, len(data.test_y), torch.device("cpu"), batch_size=64, cache_dir=tmp_path)
    return metric.compute(ctx).value


@pytest.mark.parametrize("direction", ["a2b", "b2a"])
def test_identity_on_identical_domains_is_perfect(direction, tmp_path) -> None:
    data = same_domains(direction)
    model = Translator(data.info)
    assert score(f"translate-acc-{direction}", model, data, tmp_path) == 1.0
    assert score(f"gt-l1-{direction}", model, data, tmp_path) == 0.0
    assert score(f"cycle-l1-{direction}", model, data, tmp_path) == 0.0
    assert score(f"translate-fd-{direction}", model, data, tmp_path) == pytest.approx(0.0, abs=1e-3)


@pytest.mark.parametrize("direction", ["a2b", "b2a"])
def test_translations_that_lose_the_content_score_badly(direction, tmp_path) -> None:
    data = same_domains(direction)
    model = Translator(data.info, roll=True)  # each translation is another image: labels are lost
    assert score(f"translate-acc-{direction}", model, data, tmp_path) < 0.3
    assert score(f"gt-l1-{direction}", model, data, tmp_path) > 0.05
    # Rolling twice does not come back: the cycle error is the gap between neighbours two apart.
    assert score(f"cycle-l1-{direction}", model, data, tmp_path) > 0.05
    # The set of images is unchanged, so the distribution distance stays (close to) zero.
    assert score(f"translate-fd-{direction}", model, data, tmp_path) == pytest.approx(0.0, abs=1e-3)


def test_ground_truth_needs_known_counterparts() -> None:
    metric = build_metric(get_plugins().metrics.get("gt-l1-a2b"))
    with pytest.raises(GenbenchError, match="counterparts"):
        metric.check("horse2zebra", (3, 128, 128))
    with pytest.raises(GenbenchError, match="one domain"):
        metric.check("digits", (1, 8, 8))


def test_translation_context_translates_once(tmp_path) -> None:
    calls = []
    data = load_dataset("digits2color")

    class Counting(Translator):
        def translate(self, x, direction):
            calls.append(direction)
            return super().translate(x, direction)

    ctx = EvalContext(Counting(data.info), data, 100, torch.device("cpu"), batch_size=500, cache_dir=tmp_path)
    for name in ("translate-acc-a2b", "translate-fd-a2b", "cycle-l1-a2b", "gt-l1-a2b"):
        build_metric(get_plugins().metrics.get(name)).compute(ctx)
    assert calls == ["a2b", "b2a"]  # the translation once, and its way back once
    assert translation_context(ctx).count("a2b") == 100


def test_shipped_classifiers_read_their_domains() -> None:
    d = load_dataset("digits2color")
    a = TranslationFD(get_plugins().metrics.get("translate-fd-b2a")).extractor_for("digits2color").model
    b = TranslationFD(get_plugins().metrics.get("translate-fd-a2b")).extractor_for("digits2color").model
    assert classifier_accuracy(a, d.test_x, d.test_y) > 0.95
    assert classifier_accuracy(b, d.test_b_x, d.test_b_y) > 0.9


# -- the trainer's unpaired B batches -------------------------------------------------------------


class Recorder(GenerativeModel):
    """Records the labels of every A and B batch it is trained on."""

    capabilities = frozenset({"translate"})

    def __init__(self, info: DataInfo) -> None:
        super().__init__(None, info)
        self.w = torch.nn.Parameter(torch.zeros(()))
        self.seen: list[tuple[list[int], list[int]]] = []

    def configure_optimizers(self):
        return {"sgd": torch.optim.SGD([self.w], lr=0.0)}

    def training_step(self, batch, ctx):
        assert batch.x_b is not None and batch.x_b.shape == batch.x.shape
        self.seen.append((batch.y.tolist(), batch.y_b.tolist()))
        loss = (self.w * batch.x_b.mean()) ** 2
        ctx.optimize(loss, "sgd")
        return {"loss": loss.detach()}


def test_trainer_draws_b_in_its_own_seeded_order(tmp_path) -> None:
    from genbench.config import TrainConfig
    from genbench.engine.trainer import train

    data = load_dataset("digits2color")

    def labels(seed: int) -> list[tuple[list[int], list[int]]]:
        model = Recorder(data.info)
        cfg = TrainConfig(batch_size=16)
        cpu = torch.device("cpu")
        train(model, data, cfg, budget_images=64, seed=seed, device=cpu, checkpoint_path=tmp_path / "c.pt")
        return model.seen

    first, again, other = labels(0), labels(0), labels(1)
    assert len(first) == 4 and first == again  # deterministic for a seed
    assert [b for _, b in first] != [b for _, b in other]  # and another seed draws other B batches
    assert [a for a, _ in first] != [b for _, b in first]  # B's order is not A's


# -- the domain score ------------------------------------------------------------------------------


class Oracle(GenerativeModel):
    """Returns the known counterparts of the source images (one batch: the first test images)."""

    capabilities = frozenset({"translate"})

    def __init__(self, data: ImageData) -> None:
        super().__init__(None, data.info)
        self.out = {"a2b": ImageData.to_float(data.test_b_x), "b2a": ImageData.to_float(data.test_x)}

    def translate(self, x: torch.Tensor, direction: str) -> torch.Tensor:
        return self.out[check_direction(direction)][: len(x)].clone()


@pytest.mark.parametrize("direction", ["a2b", "b2a"])
def test_domain_score_fails_doing_nothing_and_passes_the_true_counterparts(direction, tmp_path) -> None:
    data = load_dataset("digits2color")
    metric = build_metric(get_plugins().metrics.get(f"translate-domain-acc-{direction}"))
    metric.check("digits2color", data.info.shape)

    def score(model: GenerativeModel) -> float:
        ctx = EvalContext(model, data, 360, torch.device("cpu"), batch_size=500, cache_dir=tmp_path)
        return metric.compute(ctx).value

    assert score(Translator(data.info)) < 0.02  # the identity stays in its own domain
    assert score(Oracle(data)) > 0.98


@pytest.mark.parametrize("direction", ["a2b", "b2a"])
def test_success_needs_the_target_domain_and_the_source_label(direction, tmp_path) -> None:
    # The true counterparts pass both classifiers; doing nothing keeps the label but not the domain;
    # another image's counterpart (a roll) is in the domain but has the wrong label.
    data = load_dataset("digits2color")
    metric = build_metric(get_plugins().metrics.get(f"translate-success-{direction}"))
    metric.check("digits2color", data.info.shape)

    class Rolled(Oracle):
        def translate(self, x: torch.Tensor, direction: str) -> torch.Tensor:
            return super().translate(x, direction).roll(1, 0)

    def value(model: GenerativeModel) -> MetricValue:
        ctx = EvalContext(model, data, 360, torch.device("cpu"), batch_size=500, cache_dir=tmp_path)
        return metric.compute(ctx)

    identity, oracle, rolled = value(Translator(data.info)), value(Oracle(data)), value(Rolled(data))
    assert identity.value == 0.0 and identity.interval is not None and 0 < identity.interval.high < 0.02
    assert oracle.value > 0.9  # the label classifiers' own test accuracy bounds it
    assert rolled.value < 0.3
    fp = oracle.fingerprint
    assert fp["extractor"].endswith(f"digits2color-{direction[-1]}")
    assert fp["domain_extractor"].endswith("digits2color-domain")


def test_shipped_domain_classifiers_are_pinned() -> None:
    from genbench.metrics.translation import TRANSLATION_CLASSIFIER_SHA256, translation_weights_path

    for pair in ("digits2color", "mnist2color"):
        assert f"{pair}-domain" in TRANSLATION_CLASSIFIER_SHA256 and translation_weights_path(pair, "domain").is_file()
