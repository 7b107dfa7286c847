"""Tests of M2 and M1+M2 (Kingma et al. 2014): the genbench contract, the unlabelled bound, learning."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from genbench_vae.m1m2 import M1M2Model
from genbench_vae.ssl_nets import M2, gaussian_nll

from genbench.api.representation import labelled_subset
from genbench.data import load_dataset
from genbench.engine.build import build_model, resolve_config
from genbench.plugins import get_plugins
from genbench.testing import ModelContract, batch_at, train_steps


class TestM2(ModelContract):
    model_name = "m2"
    overrides = {"hidden": "64", "latent_dim": "8"}
    loss_key = "loss"


class TestM1M2(ModelContract):
    model_name = "m1m2"
    overrides = {"m1_hidden": "64", "m1_latent": "8", "hidden": "32", "latent_dim": "4", "m1_steps": "40"}
    loss_key = "m1"  # the first 40 steps train M1


def test_unlabelled_bound_is_the_expectation_over_q_minus_its_entropy() -> None:
    torch.manual_seed(0)
    m2 = M2(6, 3, 8, 2, "bernoulli")
    x = torch.rand(4, 6)
    q = F.softmax(m2.classifier(x), dim=1)
    per_class = []
    for c in range(3):
        per_class.append(torch.stack([m2.neg_elbo(x, torch.full((4,), c)) for _ in range(400)]).mean(0))
    expected = (q * torch.stack(per_class, 1)).sum(1) + (q * q.log()).sum(1)
    with torch.no_grad():
        got = torch.stack([m2.unlabelled(x) for _ in range(400)]).mean(0)
        expected = expected.detach()
    torch.testing.assert_close(got, expected, atol=0.02 * float(expected.abs().max()), rtol=0)
    # L(x, y) includes -log p(y) = log C for the uniform label prior
    assert float(m2.neg_elbo(x, torch.zeros(4, dtype=torch.long)).min()) > math.log(3)


def accuracy_after(name: str, steps: int, **overrides: str) -> float:
    data = load_dataset("digits")
    spec = get_plugins().models.get(name)
    torch.manual_seed(0)
    model = build_model(spec, data.info, resolve_config(spec, data.info, overrides))
    subset = labelled_subset(data.train_y, "100", 0, data.num_classes)
    model.set_labelled(data.train_x[subset.indices], data.train_y[subset.indices])
    train_steps(model, data, steps, batch_size=64)
    model.eval()
    with torch.no_grad():
        pred = model.classify(data.test_x.float() / 255).argmax(1)
    return float((pred == data.test_y).float().mean())


def test_m2_and_m1m2_learn_digits_from_100_labels() -> None:
    """Chance is 0.10; a few hundred steps on 100 labelled 8x8 digits and the unlabelled rest."""
    assert accuracy_after("m2", 300, hidden="128", latent_dim="16") > 0.7
    # 300 steps leave the digits' M1 code near its prior (means varying by 0.2-0.3, posterior
    # noise near 1): M2 reads the standardised mean, with a strong label weight
    # (the paper's, 0.1 and N_l/N_u, learns over many epochs: 0.22 here).
    m1 = {"m1_hidden": "128", "m1_steps": "300", "m1_likelihood": "gaussian"}
    m2 = {"hidden": "128", "m2_input": "mean", "standardise": "true", "alpha": "50", "labelled_weight": "1"}
    assert accuracy_after("m1m2", 700, **m1, **m2) > 0.5


def test_m1m2_drops_inactive_z1_dimensions_and_trains_m2_on_draws_from_q() -> None:
    """M2's stage starts by dropping z1's dimensions whose mean does not vary (the paper's code);
    on the rest M2 reads a draw of q(z1 | x) (m2_input=sample), and classify reads the mean."""
    data = load_dataset("digits")
    spec = get_plugins().models.get("m1m2")
    over = {"m1_hidden": "32", "m1_latent": "4", "hidden": "16", "latent_dim": "2", "m1_steps": "0"}
    over["active_std"] = "1e-3"  # an untrained M1's means vary by less than the paper's 0.1
    model = build_model(spec, data.info, resolve_config(spec, data.info, over))
    assert isinstance(model, M1M2Model)
    with torch.no_grad():  # the means of z1's last two dimensions: a constant for every image
        model.m1_encoder[-1].weight[2:4] = 0.0
        model.m1_encoder[-1].bias[2:4] = 0.5
    subset = labelled_subset(data.train_y, "100", 0, data.num_classes)
    model.set_labelled(data.train_x[subset.indices], data.train_y[subset.indices])
    train_steps(model, data, 1, batch_size=32)  # m1_steps=0: the first step is M2's
    assert model.active.tolist() == [1.0, 1.0, 0.0, 0.0]
    assert torch.equal(model.m2.observed, model.active)  # M2's likelihood leaves them out
    out, target = torch.randn(5, 8), torch.randn(5, 4)  # μ of 4 columns, then log σ² of 4
    kept = gaussian_nll(torch.cat([out[:, :2], out[:, 4:6]], 1), target[:, :2])
    torch.testing.assert_close(gaussian_nll(out, target, model.active), kept)
    x = data.train_x[:2000].float() / 255
    with torch.no_grad():
        mu, logvar = model._code(x)
        torch.manual_seed(0)
        z = model._m2_input(mu, logvar)
        assert torch.equal(z[:, 2:], torch.zeros(len(x), 2))
        # On the active dimensions the draw's noise is N(0, σ²) per image: its ratio to σ is standard normal.
        ratio = (z[:, :2] - mu[:, :2]) / (0.5 * logvar[:, :2]).exp()
        assert abs(float(ratio.mean())) < 0.05 and abs(float(ratio.std()) - 1.0) < 0.05
        model.eval()
        masked = mu * torch.tensor([1.0, 1.0, 0.0, 0.0])
        torch.testing.assert_close(model.classify(x), model.m2.classifier(masked))
    model.config.m2_input = "mean"
    with torch.no_grad():
        assert torch.equal(model._m2_input(mu, logvar), masked)


def test_m1m2_standardise_fixes_the_statistics_of_the_first_m2_batch() -> None:
    """standardise=true: M2 reads z1 shifted and scaled by its means' statistics over the first
    M2 step's images and the labelled ones, fixed from then on (dropped dimensions stay 0)."""
    data = load_dataset("digits")
    spec = get_plugins().models.get("m1m2")
    over = {"m1_hidden": "32", "m1_latent": "4", "hidden": "16", "latent_dim": "2", "m1_steps": "0"}
    over |= {"active_std": "1e-3", "standardise": "true", "m2_input": "mean"}
    model = build_model(spec, data.info, resolve_config(spec, data.info, over))
    assert isinstance(model, M1M2Model)
    with torch.no_grad():  # z1's last dimension: a constant mean
        model.m1_encoder[-1].weight[3] = 0.0
    subset = labelled_subset(data.train_y, "100", 0, data.num_classes)
    lab_x = data.train_x[subset.indices]
    model.set_labelled(lab_x, data.train_y[subset.indices])
    train_steps(model, data, 1, batch_size=32)
    seen = torch.cat([batch_at(data, 0, 32).x, lab_x.float() / 255])
    with torch.no_grad():
        z = model._z1(seen)
    assert model.active.tolist() == [1.0, 1.0, 1.0, 0.0]
    torch.testing.assert_close(z[:, :3].mean(0), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(z[:, :3].std(0), torch.ones(3), atol=1e-5, rtol=0)
    assert torch.equal(z[:, 3], torch.zeros(len(seen)))
