"""The semi-supervised VAE of Kingma, Rezende, Mohamed & Welling 2014 ("Semi-Supervised Learning
with Deep Generative Models", arXiv:1406.5298), as a module on flat vectors shared by ``m2``
(on pixels) and ``m1m2`` (on the latent code of a first VAE, M1).

M2's generative model is p(y) p(z) p(x | y, z) with a uniform p(y); inference uses
q(z | x, y) and the classifier q(y | x). The objective per labelled pair is the negative ELBO
L(x, y); per unlabelled image it is U(x) = Σ_y q(y|x) L(x, y) − H(q(y|x)); the classifier
also pays α · (−log q(y | x)) on labelled pairs (their J^α). Networks are MLPs with softplus
hidden units, as in the paper.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from genbench.api.dataset import ImageData


def mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers with softplus between them (none after the last)."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.Softplus())
    return nn.Sequential(*layers)


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """−log p(x) per row under independent Bernoullis (grey levels as soft targets), (B,)."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)


def gaussian_nll(out: torch.Tensor, x: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """−log N(x; μ, σ²) per row, ``out`` holding μ and log σ² side by side, (B,); ``weight``
    (one per column, 0 or 1) leaves columns out of the sum."""
    mu, logvar = out.chunk(2, dim=1)
    logvar = logvar.clamp(-8.0, 4.0)
    per_dim = 0.5 * (((x - mu) ** 2) / logvar.exp() + logvar + math.log(2 * math.pi))
    return (per_dim if weight is None else per_dim * weight).sum(1)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, σ²) ‖ N(0, I)) per row, (B,)."""
    return 0.5 * (mu**2 + logvar.exp() - 1.0 - logvar).sum(1)


class M2(nn.Module):
    """M2 on vectors of size ``dim``: ``likelihood`` "bernoulli" (values in [0, 1]) or "gaussian";
    each of its three MLPs has ``layers`` hidden layers of ``hidden`` units."""

    def __init__(self, dim: int, classes: int, hidden: int, latent: int, likelihood: str, layers: int = 2) -> None:
        super().__init__()
        self.classes, self.likelihood = classes, likelihood
        out = dim if likelihood == "bernoulli" else 2 * dim
        hiddens = [hidden] * layers
        self.classifier = mlp([dim, *hiddens, classes])  # q(y | x)
        self.encoder = mlp([dim + classes, *hiddens, 2 * latent])  # q(z | x, y)
        self.decoder = mlp([latent + classes, *hiddens, out])  # p(x | y, z)
        # Gaussian only: 1 for the columns of x the model explains, 0 for those it leaves out
        # (m1m2's dropped z1 dimensions), as if they were not there.
        self.register_buffer("observed", torch.ones(dim), persistent=False)

    def neg_elbo(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """L(x, y) = −E_q[log p(x | y, z)] + KL(q(z | x, y) ‖ p(z)) + log C, nats per row, (B,)."""
        onehot = F.one_hot(y, self.classes).to(x.dtype)
        mu, logvar = self.encoder(torch.cat([x, onehot], 1)).chunk(2, dim=1)
        logvar = logvar.clamp(-8.0, 8.0)
        z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
        out = self.decoder(torch.cat([z, onehot], 1))
        nll = bernoulli_nll(out, x) if self.likelihood == "bernoulli" else gaussian_nll(out, x, self.observed)
        return nll + gaussian_kl(mu, logvar) + math.log(self.classes)

    def unlabelled(self, x: torch.Tensor) -> torch.Tensor:
        """U(x) = Σ_y q(y | x) L(x, y) − H(q(y | x)), (B,): one pass per class."""
        n = len(x)
        logq = F.log_softmax(self.classifier(x), dim=1)  # (B, C)
        ys = torch.arange(self.classes, device=x.device).repeat_interleave(n)
        losses = self.neg_elbo(x.repeat(self.classes, 1), ys).view(self.classes, n).t()  # (B, C)
        q = logq.exp()
        return (q * losses).sum(1) + (q * logq).sum(1)

    def loss(
        self, x_u: torch.Tensor, x_l: torch.Tensor, y_l: torch.Tensor, alpha: float, labelled_weight: float = 1.0
    ) -> dict[str, torch.Tensor]:
        """The objective's parts, each a batch mean: U, L, the classifier's cross-entropy, and
        their sum U + ``labelled_weight`` · L + ``alpha`` · cross-entropy."""
        u = self.unlabelled(x_u).mean()
        lab = self.neg_elbo(x_l, y_l).mean()
        ce = F.cross_entropy(self.classifier(x_l), y_l)
        return {"loss": u + labelled_weight * lab + alpha * ce, "unlabelled": u, "labelled": lab, "ce": ce}


class LabelledSet:
    """The labelled subset the engine hands a semi-supervised model, and its training batches.

    Not a module: the subset is data, not state, and the engine hands it over again on resume.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        if x.dtype != torch.uint8 or x.dim() != 4 or y.shape != (len(x),):
            raise ValueError("set_labelled takes uint8 NCHW images and one int64 label per image")
        self.x, self.y = x, y

    def indices(self, step: int, batch_size: int) -> torch.Tensor:
        """The labelled batch of step ``step``, as indices into the subset: drawn with replacement,
        seeded by the step, so a resumed run sees the batches an uninterrupted one does."""
        gen = torch.Generator().manual_seed(step)
        return torch.randint(len(self.y), (batch_size,), generator=gen)

    def batch(self, step: int, batch_size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """The images and labels of :meth:`indices`."""
        idx = self.indices(step, batch_size)
        return ImageData.to_float(self.x[idx]).to(device), self.y[idx].to(device)
