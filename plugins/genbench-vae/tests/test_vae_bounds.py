"""The vectorised IWAE bounds of vae and cvae against the implementation they replaced.

The old code (kept below, given the same normal draws) decoded the K importance samples
sample-major in chunks and marginalised cvae's label with one decoder pass per class; the new
code decodes all (image, z) pairs image-major in chunks, and all classes in one pass. Given the
same noise they compute the same numbers, up to float32 summation order. The new code also draws
each image's noise in turn, so an image's bound no longer depends on the batch it is scored in.
"""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from genbench_vae.cvae import CVAE
from genbench_vae.vae import VAE, gaussian_log_prob

from genbench.api.dataset import ImageData
from genbench.data import load_dataset


@pytest.fixture(scope="module")
def digits() -> ImageData:
    return load_dataset("digits")


def tiny(cls: type[VAE], data: ImageData, **changes: object) -> VAE:
    torch.manual_seed(3)
    config = dataclasses.replace(cls.default_config(data.info), hidden=8, latent_dim=5, **changes)
    return cls(config, data.info).eval()


def images(data: ImageData, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    return ImageData.to_float(data.test_x[:n]), data.test_y[:n]


# -- the implementation before the vectorisation (genbench_vae 2026-12-05), noise given --------


def old_log_px_given_z(model: VAE, x: torch.Tensor, z: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
    if isinstance(model, CVAE) and cond is None:
        per_class = []
        for c in range(model.info.num_classes):
            label = torch.full((len(x),), c)
            per_class.append(VAE._log_px_given_z(model, x, z, model._condition(label)))
        return torch.logsumexp(torch.stack(per_class), dim=0) - math.log(model.info.num_classes)
    return VAE._log_px_given_z(model, x, z, cond)


def old_iwae_bound(model: VAE, x: torch.Tensor, cond: torch.Tensor | None, eps: torch.Tensor) -> torch.Tensor:
    """``eps`` (K, B, latent): the old code's draws, sample-major."""
    b = x.shape[0]
    k_total = model.config.iwae_k
    mean, logvar = model._posterior(x)
    std = torch.exp(0.5 * logvar)
    per_chunk = max(1, 2048 // b)
    log_w = []
    for start in range(0, k_total, per_chunk):
        k = min(per_chunk, k_total - start)
        z = mean + std * eps[start : start + k]
        log_q = gaussian_log_prob(z, mean, logvar)
        log_prior = gaussian_log_prob(z, torch.zeros_like(z), torch.zeros_like(z))
        zc = None if cond is None else cond.repeat(k, 1)
        log_px = old_log_px_given_z(model, x.repeat(k, 1, 1, 1), z.flatten(0, 1), zc)
        log_w.append(log_px.view(k, b) + log_prior - log_q)
    return torch.logsumexp(torch.cat(log_w), dim=0) - math.log(k_total)


def new_bound(
    model: VAE, x: torch.Tensor, cond: torch.Tensor | None, eps: torch.Tensor, log_ratio: torch.Tensor | None = None
) -> torch.Tensor:
    """``eps`` (B, K, latent), image-major."""
    with torch.inference_mode():
        mean, logvar = model._posterior(x)
        return model._iwae_bound_from_noise(x, cond, mean, logvar, eps, log_ratio)


# -- tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("cls", "labelled"), [(VAE, False), (CVAE, False), (CVAE, True)])
def test_vectorised_bound_equals_the_old_one_given_the_same_noise(
    digits: ImageData, cls: type[VAE], labelled: bool
) -> None:
    model = tiny(cls, digits, iwae_k=12, iwae_batch=50)  # passes that split images and classes
    x, y = images(digits, 9)
    cond = model._condition(y) if labelled else None
    eps = torch.randn(12, 9, 5, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        old = old_iwae_bound(model, x, cond, eps)
    new = new_bound(model, x, cond, eps.transpose(0, 1))
    assert old.shape == new.shape == (9,)
    assert float(new.max()) < 0 and float(new.min()) < -50  # a real bound on 64 pixels, not a constant
    torch.testing.assert_close(new, old, rtol=1e-6, atol=0)


def test_cvae_marginal_is_the_class_average_of_p_x_given_z(digits: ImageData) -> None:
    # With K = 1 the marginal bound is log (1/C) Σ_c p(x|z, c) + log p(z) − log q(z|x) at one z:
    # assemble it from the labelled bounds at the same z (whose log p(z) − log q(z|x) is shared).
    model = tiny(CVAE, digits, iwae_k=1)
    x, _ = images(digits, 4)
    eps = torch.randn(4, 1, 5, generator=torch.Generator().manual_seed(1))
    per_class = torch.stack(
        [new_bound(model, x, model._condition(torch.full((4,), c)), eps) for c in range(digits.num_classes)]
    )
    expected = torch.logsumexp(per_class.double(), dim=0) - math.log(digits.num_classes)
    torch.testing.assert_close(new_bound(model, x, None, eps).double(), expected, rtol=1e-6, atol=0)


def test_cvae_sampled_marginal_is_unbiased_for_the_summed_one(digits: ImageData) -> None:
    # Drawing label y from r(y|x) and weighting by P(y) / r(y|x): the expectation over y of the
    # weight is the summed marginal's weight at the same z. Enumerate y with probabilities r.
    model = tiny(CVAE, digits, iwae_k=1)
    x, _ = images(digits, 5)
    eps = torch.randn(5, 1, 5, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        log_r = model.label_proposal(x, model._posterior(x)[0])  # (5, C)
    assert torch.allclose(log_r.exp().sum(1), torch.ones(5)) and float(log_r.exp().min()) >= 0.1 / 10 - 1e-6
    per_label = []
    for c in range(digits.num_classes):
        label = torch.full((5, 1), c)
        log_ratio = -math.log(10) - log_r.gather(1, label)
        per_label.append(new_bound(model, x, model._condition(label), eps, log_ratio) + log_r[:, c])
    expectation = torch.logsumexp(torch.stack(per_label).double(), dim=0)
    torch.testing.assert_close(expectation, new_bound(model, x, None, eps).double(), rtol=1e-5, atol=0)


def test_cvae_sampled_marginal_is_close_to_the_sum_at_a_tenth_of_the_decodes(digits: ImageData) -> None:
    # Both are importance-weighted bounds of the same log P(x), so they agree within their Monte
    # Carlo noise; the sampled one decodes K + C times an image, the sum C * K times.
    model = tiny(CVAE, digits, iwae_k=64)
    x, _ = images(digits, 40)
    calls = []
    model.decoder.register_forward_hook(lambda m, i, o: calls.append(len(i[0])))
    values = {}
    for marginal in ("sum", "sampled"):
        model.config.marginal = marginal
        calls.clear()
        torch.manual_seed(0)
        values[marginal] = model.log_likelihood(x).double()
        values[marginal + " decodes"] = sum(calls)
    assert values["sum decodes"] == 40 * 64 * 10 and values["sampled decodes"] == 40 * (64 + 10)
    gap = values["sum"] - values["sampled"]
    assert abs(float(gap.mean())) < 0.05 * float(values["sum"].abs().mean()) and float(gap.abs().max()) < 5.0
    torch.manual_seed(0)
    # Per image: the same draws whatever the batch (float32 convolutions of another batch size round differently).
    torch.testing.assert_close(model.log_likelihood(x[:7]).double(), values["sampled"][:7], rtol=1e-5, atol=0)


@pytest.mark.parametrize("cls", [VAE, CVAE])
def test_bound_does_not_depend_on_the_batch_size(digits: ImageData, cls: type[VAE]) -> None:
    model = tiny(cls, digits, iwae_k=7)  # 7 x 5 normals per image: not a multiple of torch.randn's 16
    x, _ = images(digits, 10)
    torch.manual_seed(11)
    whole = model.log_likelihood(x)
    torch.manual_seed(11)
    split = torch.cat([model.log_likelihood(x[:3]), model.log_likelihood(x[3:4]), model.log_likelihood(x[4:])])
    torch.testing.assert_close(split, whole, rtol=1e-6, atol=0)
    torch.manual_seed(12)  # another draw is another estimate: the noise is really drawn
    assert not torch.equal(model.log_likelihood(x), whole)


def test_iwae_batch_changes_memory_not_the_value(digits: ImageData) -> None:
    x, _ = images(digits, 6)
    values = []
    for iwae_batch in (1, 13, 10_000):
        model = tiny(CVAE, digits, iwae_k=5, iwae_batch=iwae_batch)
        torch.manual_seed(5)
        values.append(model.log_likelihood(x))
    torch.testing.assert_close(values[1], values[0], rtol=1e-6, atol=0)
    torch.testing.assert_close(values[2], values[0], rtol=1e-6, atol=0)


@pytest.mark.parametrize("cls", [VAE, CVAE])
@pytest.mark.parametrize("sample_mode", ["mode", "draw"])
def test_samples_and_reconstructions_in_chunks_are_the_same(
    digits: ImageData, cls: type[VAE], sample_mode: str
) -> None:
    x, _ = images(digits, 10)
    out = []
    for iwae_batch in (1000, 3):
        model = tiny(cls, digits, iwae_batch=iwae_batch, sample_mode=sample_mode)
        with torch.no_grad():
            samples = model.sample(10, generator=torch.Generator().manual_seed(0))
            out.append((samples, model.reconstruct(x), model.encode(x)))
    for chunked, whole in zip(out[1], out[0]):
        torch.testing.assert_close(chunked, whole, rtol=1e-6, atol=1e-6)
    assert out[0][1].shape == x.shape and out[0][2].shape == (10, 5)


def test_cvae_reconstruction_reuses_the_label_search(digits: ImageData) -> None:
    from genbench_vae.likelihood import discretized_logistic_log_prob

    model = tiny(CVAE, digits)
    x, _ = images(digits, 12)
    with torch.no_grad():
        z = model.encode(x)
        scores = torch.stack(  # the old infer_labels: every label's log p(x | z, y), then argmax
            [
                discretized_logistic_log_prob(x, *model._decode(z, model._condition(torch.full((12,), c)))).sum(
                    (1, 2, 3)
                )
                for c in range(digits.num_classes)
            ],
            dim=1,
        )
        labels = model.infer_labels(x)
        assert torch.equal(labels, scores.argmax(dim=1))
        assert len(set(labels.tolist())) > 1  # not one label for every image
        # The old reconstruct decoded again under the inferred labels: the same images.
        torch.testing.assert_close(model.reconstruct(x), model.reconstruct(x, labels), rtol=0, atol=0)
