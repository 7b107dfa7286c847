"""The representation and anomaly protocols: label budgets, probe-acc, recon metrics, ood-auroc."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from sklearn.metrics import roc_auc_score

from genbench.api.anomaly import AnomalyContext
from genbench.api.dataset import ImageData
from genbench.api.metric import Metric
from genbench.api.protocols import ProtocolContext
from genbench.api.representation import RepresentationContext, labelled_subset
from genbench.benchmarks import load_benchmark
from genbench.data import load_dataset
from genbench.engine.build import build_metric
from genbench.engine.runner import Runner, RunRequest
from genbench.errors import GenbenchError
from genbench.metrics.ood import auroc
from genbench.metrics.probe import linear_probe
from genbench.metrics.reconstruction import psnr
from genbench.plugins import get_plugins


@pytest.fixture(scope="module")
def digits() -> ImageData:
    return load_dataset("digits")


# -- the labelled subset ------------------------------------------------------------------


def test_labelled_subset_is_class_balanced_and_fixed_by_the_seed(digits: ImageData) -> None:
    a = labelled_subset(digits.train_y, "100", 0, 10)
    assert torch.equal(a.indices, labelled_subset(digits.train_y, "100", 0, 10).indices)
    assert torch.bincount(digits.train_y[a.indices], minlength=10).tolist() == [10] * 10
    assert len(set(a.indices.tolist())) == 100
    other = labelled_subset(digits.train_y, "100", 1, 10)
    assert not torch.equal(a.indices, other.indices) and a.sha256 != other.sha256
    assert len(labelled_subset(digits.train_y, "all", 0, 10).indices) == len(digits.train_y)


def test_labelled_subset_refuses_what_it_cannot_balance(digits: ImageData) -> None:
    with pytest.raises(GenbenchError, match="multiple of the 10 classes"):
        labelled_subset(digits.train_y, "105", 0, 10)
    with pytest.raises(GenbenchError, match="fewer than"):
        labelled_subset(digits.train_y, "10000", 0, 10)


def test_every_model_is_probed_and_trained_on_the_same_subset(results: Path) -> None:
    runner = Runner(results)
    shas = {}
    for model in ("pixels", "pca", "clf-scratch"):
        req = RunRequest(family="ae", model=model, dataset="digits", budget="smoke",
                         sets=["eval.labels=100", "hidden=8", "latent_dim=8"] if model == "clf-scratch"
                         else ["eval.labels=100"])  # fmt: skip
        out = runner.run(req)
        for score in out.scores:
            if "labelled_sha256" in score.fingerprint:
                shas[(model, score.name)] = score.fingerprint["labelled_sha256"]
                assert score.settings["labels"] == "100"
    expected = labelled_subset(load_dataset("digits").train_y, "100", 0, 10).sha256
    # probe-acc of all three, and the accuracy of the classifier trained on the subset.
    assert set(shas) == {("pixels", "probe-acc"), ("pca", "probe-acc"), ("clf-scratch", "probe-acc"),
                         ("clf-scratch", "accuracy")}  # fmt: skip
    assert set(shas.values()) == {expected}


def test_label_budgets_are_checked_before_a_run_is_stored(results: Path) -> None:
    runner = Runner(results)
    with pytest.raises(GenbenchError, match="declares label budgets all, 100"):
        runner.run(RunRequest(family="ae", model="pixels", dataset="digits", budget="smoke", sets=["eval.labels=7"]))
    assert not (results / "runs").exists() or not any((results / "runs").iterdir())


def test_eval_rescores_a_probe_at_another_budget_but_not_a_trained_classifier(results: Path) -> None:
    runner = Runner(results)
    pca = runner.run(RunRequest(family="ae", model="pca", dataset="digits", budget="smoke")).run
    again = runner.evaluate(pca.id, ["eval.labels=100"], only=["probe-acc"])
    assert [(s.name, s.settings["labels"]) for s in again.scores] == [("probe-acc", "100")]
    clf = runner.run(RunRequest(family="ae", model="clf-scratch", dataset="digits", budget="smoke",
                                sets=["eval.labels=100", "hidden=8", "latent_dim=8"])).run  # fmt: skip
    with pytest.raises(GenbenchError, match="learnt its classifier from 100 labels"):
        runner.evaluate(clf.id, ["eval.labels=all"])


def test_benchmarks_declare_label_budgets_and_ood_sets() -> None:
    plugins = get_plugins()
    assert plugins.benchmark("mnist").label_budgets == ("all", "100", "1000")
    assert plugins.benchmark("mnist").ood == "fashion-mnist"
    assert plugins.benchmark("fashion-mnist").ood == "mnist"
    assert plugins.benchmark("digits").ood is None


def test_a_bad_label_budget_in_yaml_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "b.yaml"
    path.write_text("name: b\nversion: 1\ndataset: digits\nbudgets: {smoke: 10}\n"
                    "eval: {num_samples: {smoke: 10}, labels: [all, ten]}\n")  # fmt: skip
    with pytest.raises(GenbenchError, match="'ten' must be 'all' or a positive count"):
        load_benchmark(path)


# -- the linear probe -----------------------------------------------------------------------


def test_probe_on_one_hot_labels_is_perfect() -> None:
    gen = torch.Generator().manual_seed(0)
    y_train, y_test = torch.randint(0, 10, (200,), generator=gen), torch.randint(0, 10, (300,), generator=gen)
    one_hot = lambda y: torch.nn.functional.one_hot(y, 10).float()  # noqa: E731
    assert linear_probe(one_hot(y_train), y_train, one_hot(y_test), y_test) == 1.0


def test_probe_on_constant_features_is_chance() -> None:
    y_train, y_test = torch.arange(100) % 10, torch.arange(500) % 10  # balanced: chance is exactly 0.1
    assert linear_probe(torch.ones(100, 5), y_train, torch.ones(500, 5), y_test) == pytest.approx(0.1)


# -- AUROC and PSNR -----------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auroc_equals_scikit_learn(seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    inl = torch.randint(0, 20, (300,), generator=gen).double()  # integers: many ties
    out = torch.randint(5, 30, (200,), generator=gen).double()
    labels = [0] * len(inl) + [1] * len(out)
    expected = roc_auc_score(labels, torch.cat([inl, out]).numpy())
    assert auroc(inl, out) == pytest.approx(expected, abs=1e-12)


def test_auroc_extremes() -> None:
    low, high = torch.zeros(5), torch.ones(7)
    assert auroc(low, high) == 1.0 and auroc(high, low) == 0.0 and auroc(low, low) == 0.5


def test_psnr_of_known_errors() -> None:
    assert psnr(torch.tensor([1e-2, 1e-4, 0.0])).tolist() == pytest.approx([20.0, 40.0, 100.0])


# -- the metrics on a model -----------------------------------------------------------------


def _context(
    model: torch.nn.Module, data: ImageData, ood: ImageData | None = None, budget: str = "all"
) -> ProtocolContext:
    return ProtocolContext(
        model, data, num_samples=200, device=torch.device("cpu"), batch_size=64,
        representation=RepresentationContext(labelled_subset(data.train_y, budget, 0, data.num_classes)),
        anomaly=AnomalyContext(ood) if ood is not None else None,
    )  # fmt: skip


def _metric(name: str) -> Metric:
    return build_metric(get_plugins().metrics.get(name))


def _fitted_pca(data: ImageData) -> torch.nn.Module:
    from genbench_ae.pca import PCA

    from genbench.testing import train_steps

    model = PCA(PCA.Config(components=16), data.info)
    train_steps(model, data, 1, batch_size=len(data.train_y))
    return model.eval()


def test_ood_auroc_separates_inverted_digits_by_reconstruction_error(digits: ImageData) -> None:
    inverted = ImageData("inverted", 255 - digits.train_x, digits.train_y, 255 - digits.test_x, digits.test_y, 10)
    value = _metric("ood-auroc").compute(_context(_fitted_pca(digits), digits, inverted))
    assert value.value > 0.95 and value.settings == {"ood_score": "reconstruction-mse"}
    assert value.fingerprint["out"] == "inverted/test" and value.fingerprint["count"] == 200
    # The same set as its own out-of-distribution set: no better than chance.
    same = _metric("ood-auroc").compute(_context(_fitted_pca(digits), digits, digits)).value
    assert same == pytest.approx(0.5)


def test_ood_auroc_scores_likelihood_models_by_nll(digits: ImageData) -> None:
    class Brightness(torch.nn.Module):  # log P(x) = -total intensity: bright images are "anomalous"
        capabilities = frozenset({"log_likelihood"})

        def log_likelihood(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
            return -x.flatten(1).sum(1)

    inverted = ImageData("inverted", 255 - digits.train_x, digits.train_y, 255 - digits.test_x, digits.test_y, 10)
    ctx = _context(Brightness(), digits, inverted)
    seen: list[tuple[str, int, int]] = []
    ctx.progress = lambda task, done, total: seen.append((task, done, total))
    value = _metric("ood-auroc").compute(ctx)
    x_in = ImageData.to_float(digits.test_x[:200]).flatten(1).sum(1)
    x_out = ImageData.to_float(inverted.test_x[:200]).flatten(1).sum(1)
    assert value.value == pytest.approx(auroc(x_in, x_out)) and value.settings == {"ood_score": "nll"}
    # A likelihood bound can take an hour here on a CPU: both sets report their progress to the end.
    for task in ("ood-auroc: digits test images", "ood-auroc: inverted test images"):
        assert [d for t, d, n in seen if t == task] == [0, 64, 128, 192, 200], seen


def test_ood_auroc_counts_at_most_the_benchmarks_test_images(digits: ImageData) -> None:
    # The smoke budget's test_images (100) caps it as it caps the NLL: "does it work?" in a minute.
    inverted = ImageData("inverted", 255 - digits.train_x, digits.train_y, 255 - digits.test_x, digits.test_y, 10)
    ctx = _context(_fitted_pca(digits), digits, inverted)
    ctx.test_count = 50
    value = _metric("ood-auroc").compute(ctx)
    assert value.fingerprint["count"] == 50 and value.value > 0.9


def test_ood_auroc_needs_an_ood_set(digits: ImageData) -> None:
    with pytest.raises(GenbenchError, match="names no out-of-distribution set"):
        _metric("ood-auroc").compute(_context(_fitted_pca(digits), digits))


def test_recon_metrics_agree_with_a_direct_computation(digits: ImageData) -> None:
    model = _fitted_pca(digits)
    ctx = _context(model, digits)
    x = ImageData.to_float(digits.test_x)
    errors = ((model.reconstruct(x) - x) ** 2).flatten(1).mean(1).double()
    assert _metric("recon-mse").compute(ctx).value == pytest.approx(float(errors.mean()), rel=1e-5)
    expected = float((10 * torch.log10(1 / errors)).mean())
    assert _metric("psnr").compute(ctx).value == pytest.approx(expected, rel=1e-5)
    assert math.isfinite(expected)


def test_recon_metrics_at_a_benchmarks_smoke_count_read_the_first_test_images(digits: ImageData) -> None:
    # eval.recon_images (the smoke budget's count): the first 100 of the 360 test images, counted
    # in the fingerprint, so the value never ranks beside one over the whole split.
    model = _fitted_pca(digits)
    ctx = _context(model, digits)
    ctx.recon_count = 100
    x = ImageData.to_float(digits.test_x[:100])
    errors = ((model.reconstruct(x) - x) ** 2).flatten(1).mean(1).double()
    value = _metric("recon-mse").compute(ctx)
    assert value.value == pytest.approx(float(errors.mean()), rel=1e-5)
    assert value.fingerprint["reference_count"] == 100
    assert _metric("psnr").compute(ctx).value == pytest.approx(float((10 * torch.log10(1 / errors)).mean()), rel=1e-5)
    whole = _metric("recon-mse").compute(_context(model, digits))
    assert whole.fingerprint["reference_count"] == 360 and whole.value != value.value


def test_benchmark_scaled_counts_name_a_budget_and_are_positive(tmp_path: Path) -> None:
    base = "name: b\nversion: 1\ndataset: digits\nbudgets: {smoke: 8}\neval:\n  num_samples: {smoke: 8}\n"
    for bad, needle in (
        ("recon_images: {quick: 10}", "names budget 'quick'"),
        ("recon_images: {smoke: 0}", "positive"),
    ):
        path = tmp_path / "b.yaml"
        path.write_text(base + "  " + bad + "\n")
        with pytest.raises(GenbenchError, match=needle):
            load_benchmark(path)
    path.write_text(base + "  recon_images: {smoke: 10}\n")
    assert load_benchmark(path).recon_images == {"smoke": 10}


def test_probe_acc_of_pixels_on_digits(digits: ImageData) -> None:
    from genbench_ae.pixels import Pixels

    model = Pixels(Pixels.Config(), digits.info)
    full = _metric("probe-acc").compute(_context(model, digits))
    few = _metric("probe-acc").compute(_context(model, digits, budget="100"))
    # Logistic regression on 8x8 digits: about 0.96 with every label, lower with 100.
    assert 0.9 < full.value <= 1.0 and few.value < full.value
    assert few.fingerprint["labelled_count"] == 100 and few.settings == {"labels": "100"}


@pytest.mark.parametrize("name", ["vae", "cvae", "ldm", "ae", "dae", "aeclf", "clf-scratch", "pca", "pixels"])
def test_probe_acc_runs_for_every_installed_encoder(digits: ImageData, name: str) -> None:
    # Untrained models: only that the probe runs on each family's features (cvae's encoder is
    # q(z|x), which never sees the label; ldm's features are its first stage's latent mean).
    from genbench.engine.build import build_model, resolve_config
    from genbench.testing import train_steps

    spec = get_plugins().models.get(name)
    torch.manual_seed(0)
    model = build_model(spec, digits.info, resolve_config(spec, digits.info))
    if name == "pca":
        train_steps(model, digits, 1)
    value = _metric("probe-acc").compute(_context(model, digits, budget="100"))
    assert 0.0 <= value.value <= 1.0 and value.fingerprint["labelled_count"] == 100
