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

from genbench.api import normal_per_item
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


def new_bound(model: VAE, x: torch.Tensor, cond: torch.Tensor | None, eps: torch.Tensor) -> torch.Tensor:
    """``eps`` (B, K, latent), image-major."""
    with torch.inference_mode():
        mean, logvar = model._posterior(x)
        return model._iwae_bound_from_noise(x, cond, mean, logvar, eps)


# -- tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("cls", "labelled"), [(VAE, False), (CVAE, False), (CVAE, True)])
def test_vectorised_bound_equals_the_old_one_given_the_same_noise(
    digits: ImageData, cls: type[VAE], labelled: bool
) -> None:
    model = tiny(cls, digits, iwae_k=12, iwae_batch=50)  # passes that split images and classes
    x, y = images(digits, 9)
    cond = model._condition(y) if labelled else None
    if cls is CVAE and not labelled:
        cond_new = model._likely_labels(x)  # marginal_labels 3 by default: the old code summed all 10
        assert cond_new.shape == (9, 3)
        model.config.marginal_labels = digits.num_classes
        cond_new = model._likely_labels(x)
        assert torch.equal(cond_new, torch.arange(10).expand(9, 10))
    else:
        cond_new = cond
    eps = torch.randn(12, 9, 5, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        old = old_iwae_bound(model, x, cond, eps)
    new = new_bound(model, x, cond_new, eps.transpose(0, 1))
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
    every_label = torch.arange(digits.num_classes).expand(4, digits.num_classes)
    torch.testing.assert_close(new_bound(model, x, every_label, eps).double(), expected, rtol=1e-6, atol=0)
    # With fewer labels it sums the chosen ones only, still over all C in P(y) = 1/C: a lower bound.
    chosen = torch.tensor([[0, 1], [2, 3], [4, 5], [9, 8]])
    part = per_class.double().gather(0, chosen.T)  # (2, 4)
    expected_part = torch.logsumexp(part, dim=0) - math.log(digits.num_classes)
    torch.testing.assert_close(new_bound(model, x, chosen, eps).double(), expected_part, rtol=1e-6, atol=0)
    assert bool((expected_part < expected).all())


def test_cvae_marginal_sums_the_labels_that_explain_the_image_best(digits: ImageData) -> None:
    # The chosen labels are the top m of log p(x | E[z|x], y); the bound over them is never above
    # the exact sum over all labels given the same draws (here, on an untrained decoder, within
    # log(10/3) nats of it: the gap if the left-out labels weighed as much as the chosen ones).
    model = tiny(CVAE, digits, iwae_k=6)
    x, _ = images(digits, 8)
    with torch.no_grad():
        z = model.encode(x)
        score = torch.stack(
            [VAE._log_px_given_z(model, x, z, model._condition(torch.full((8,), c))) for c in range(10)], dim=1
        )  # (8, 10)
    chosen = model._likely_labels(x)
    assert chosen.shape == (8, 3)
    assert torch.equal(chosen, score.topk(3, dim=1).indices)
    eps = torch.randn(8, 6, 5, generator=torch.Generator().manual_seed(2))
    part = new_bound(model, x, chosen, eps)
    every = new_bound(model, x, torch.arange(10).expand(8, 10), eps)
    assert bool((part <= every).all()) and bool((every - part < math.log(10 / 3) + 1e-4).all())
    torch.manual_seed(4)
    via_api = model.log_likelihood(x)  # the metric's entry point sums the same 3 labels
    torch.manual_seed(4)
    mean, _ = model._posterior(x)
    eps_api = normal_per_item(8, (6, 5), device=x.device, dtype=mean.dtype)
    torch.testing.assert_close(via_api, new_bound(model, x, chosen, eps_api), rtol=1e-6, atol=0)


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
