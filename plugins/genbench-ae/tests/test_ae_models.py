"""Tests of the ae family: the genbench model contract plus each model's own behaviour."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from genbench_ae.ae import AE
from genbench_ae.aeclf import AEClassifier
from genbench_ae.dae import DAE
from genbench_ae.nets import num_downsamples
from genbench_ae.pca import PCA
from genbench_ae.pixels import Pixels

from genbench.api.dataset import DataInfo, ImageData
from genbench.api.representation import labelled_subset
from genbench.data import load_dataset
from genbench.testing import ModelContract, batch_at, tiny_overrides, train_steps

TINY = tiny_overrides(hidden=8, latent_dim=8)


class TestAE(ModelContract):
    model_name = "ae"
    overrides = TINY
    loss_key = "loss"


class TestDAE(ModelContract):
    model_name = "dae"
    overrides = TINY
    loss_key = "loss"


# The contract's 40 steps fall within pre-training, where the reconstruction loss must fall;
# test_aeclf_learns_from_100_labels checks the classifier stage.
class TestAEClassifier(ModelContract):
    model_name = "aeclf"
    overrides = tiny_overrides(hidden=8, latent_dim=8, ae_steps=100)
    loss_key = "loss"


class TestAEClassifierFinetuned(TestAEClassifier):
    overrides = tiny_overrides(hidden=8, latent_dim=8, ae_steps=1, finetune="true", clf_lr=3e-3)
    loss_key = "clf"
    train_steps = 80


class TestScratchClassifier(ModelContract):
    model_name = "clf-scratch"
    overrides = tiny_overrides(hidden=8, latent_dim=8, lr=3e-3)
    loss_key = "clf"
    train_steps = 80


class _NoGradientDescent(ModelContract):
    def test_training_step_updates_every_optimizer(self, spec, data) -> None:  # type: ignore[no-untyped-def]
        pytest.skip("no optimizer: nothing is learnt by gradient descent")


class TestPCA(_NoGradientDescent):
    model_name = "pca"
    overrides = tiny_overrides(components=8)

    def build(self, spec, data, seed=0):  # type: ignore[no-untyped-def]
        # PCA has no encoder before it has seen data: every capability test gets a fitted one.
        model = super().build(spec, data, seed)
        train_steps(model, data, 2 + seed)
        return model

    def test_training_step_updates_every_optimizer(self, spec, data) -> None:  # type: ignore[no-untyped-def]
        model = self.build(spec, data)  # fitted on 2 batches
        before = model.outer.clone()
        train_steps(model, data, 1)
        assert float(model.count) == 3 * self.batch_size and not torch.equal(model.outer, before)


class TestPixels(_NoGradientDescent):
    model_name = "pixels"


@pytest.fixture(scope="module")
def digits() -> ImageData:
    return load_dataset("digits")


def tiny(cls: type, info: DataInfo, seed: int = 0, **changes: object):  # type: ignore[no-untyped-def]
    torch.manual_seed(seed)
    return cls(dataclasses.replace(cls.default_config(info), hidden=8, latent_dim=8, **changes), info)


def give_labels(model, data: ImageData, budget: str = "100") -> None:  # type: ignore[no-untyped-def]
    subset = labelled_subset(data.train_y, budget, 0, data.num_classes)
    model.set_labelled(data.train_x[subset.indices], data.train_y[subset.indices])


@pytest.mark.parametrize(("shape", "bottom"), [((1, 8, 8), 4), ((1, 28, 28), 7), ((3, 32, 32), 4)])
def test_networks_are_sized_to_the_dataset(shape: tuple[int, int, int], bottom: int) -> None:
    assert shape[1] >> num_downsamples(shape[1], shape[2]) == bottom
    model = tiny(AE, DataInfo("any", shape, 10)).eval()
    x = torch.rand(2, *shape)
    assert model.encode(x).shape == (2, 8) and model.reconstruct(x).shape == (2, *shape)


def test_training_improves_reconstructions(digits: ImageData) -> None:
    x = ImageData.to_float(digits.test_x[:64])
    model = tiny(AE, digits.info)
    err = lambda: float(((model.eval().reconstruct(x) - x) ** 2).mean())  # noqa: E731
    before = err()
    train_steps(model, digits, 150)
    assert err() < 0.5 * before


def test_dae_masks_a_fraction_of_pixels_in_training_only(digits: ImageData) -> None:
    model = tiny(DAE, digits.info, corruption=0.25)
    x = torch.ones(64, *digits.info.shape)
    torch.manual_seed(0)
    masked = 1.0 - float(model.train().corrupt(x).mean())
    assert masked == pytest.approx(0.25, abs=0.02)
    assert torch.equal(model.eval().corrupt(x), x)


def test_aeclf_ignores_the_labels_of_the_engine_batches(digits: ImageData) -> None:
    # Only the labelled subset's labels may reach the classifier: shuffled batch labels change nothing.
    runs = []
    for shuffle in (False, True):
        model = tiny(AEClassifier, digits.info, ae_steps=3)
        give_labels(model, digits)
        from genbench.api.model import StepContext

        ctx = StepContext(model.configure_optimizers(), device=torch.device("cpu"))
        for step in range(6):
            ctx.step = step
            batch = batch_at(digits, step, 32)
            if shuffle:
                batch.y = batch.y[torch.randperm(len(batch.y))]
            model.training_step(batch, ctx)
        runs.append(model.state_dict())
    for key in runs[0]:
        assert torch.equal(runs[0][key], runs[1][key]), key


@pytest.mark.parametrize("finetune", [False, True])
def test_aeclf_freezes_or_finetunes_the_encoder(digits: ImageData, finetune: bool) -> None:
    model = tiny(AEClassifier, digits.info, ae_steps=5, finetune=finetune)
    give_labels(model, digits)
    train_steps(model, digits, 5)  # stage 1
    encoder, decoder = ({k: v.clone() for k, v in m.state_dict().items()} for m in (model.encoder, model.decoder))
    head = {k: v.clone() for k, v in model.head.state_dict().items()}
    train_steps(model, digits, 5, start=5)  # stage 2
    changed = lambda m, before: any(not torch.equal(v, before[k]) for k, v in m.state_dict().items())  # noqa: E731
    assert changed(model.head, head)
    assert not changed(model.decoder, decoder)
    assert changed(model.encoder, encoder) == finetune


@pytest.mark.parametrize(("finetune", "least"), [(False, 0.45), (True, 0.65)])
def test_aeclf_learns_from_100_labels(digits: ImageData, finetune: bool, least: float) -> None:
    # Tiny nets, 150 steps of each stage: measured 0.52 frozen, 0.78 fine-tuned; chance is 0.1.
    model = tiny(AEClassifier, digits.info, ae_steps=150, clf_lr=3e-3, finetune=finetune)
    give_labels(model, digits)
    train_steps(model, digits, 300)
    x, y = ImageData.to_float(digits.test_x), digits.test_y
    accuracy = float((model.eval().classify(x).argmax(1) == y).float().mean())
    assert accuracy > least, accuracy


def test_aeclf_refuses_to_train_without_its_labelled_subset(digits: ImageData) -> None:
    model = tiny(AEClassifier, digits.info)
    with pytest.raises(RuntimeError, match="set_labelled"):
        train_steps(model, digits, 1)


def test_pca_matches_scikit_learn(digits: ImageData) -> None:
    from sklearn.decomposition import PCA as SkPCA

    model = PCA(PCA.Config(components=10), digits.info)
    n = len(digits.train_y)
    train_steps(model, digits, 1, batch_size=n)  # one pass over every training image
    x = ImageData.to_float(digits.train_x).flatten(1).double().numpy()
    reference = SkPCA(n_components=10, svd_solver="full").fit(x)
    test = ImageData.to_float(digits.test_x[:50])
    ours = model.encode(test).double().numpy()
    theirs = reference.transform(test.flatten(1).double().numpy())
    signs = np.sign((ours * theirs).sum(0))  # each direction is defined up to its sign
    np.testing.assert_allclose(ours, theirs * signs, atol=1e-3)
    expected = np.clip(reference.inverse_transform(theirs), 0, 1).reshape(test.shape)
    np.testing.assert_allclose(model.reconstruct(test).numpy(), expected, atol=1e-3)


def test_pixels_are_the_features(digits: ImageData) -> None:
    x = ImageData.to_float(digits.test_x[:4])
    assert torch.equal(Pixels(Pixels.Config(), digits.info).encode(x), x.flatten(1))
