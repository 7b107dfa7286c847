"""The statistics behind the feature metrics, each in one place, in double precision.

- :func:`frechet_distance` between two Gaussians (FID, clf-fd), Heusel et al. 2017,
  https://arxiv.org/abs/1706.08500.
- :func:`kernel_distance`: the unbiased polynomial-kernel MMD² averaged over random subsets
  (KID), Bińkowski et al. 2018, https://arxiv.org/abs/1801.01401, computed the way
  torch-fidelity computes it (same subset draws for the same seed).
- :func:`split_score`: exp E_x KL(p(y|x) || p(y)) over splits (Inception Score),
  Salimans et al. 2016, https://arxiv.org/abs/1606.03498, split as torch-fidelity splits
  for the same seed; with one split it is the classifier score.
- :func:`prdc`: precision and recall of Kynkäänniemi et al. 2019 (https://arxiv.org/abs/1904.06991)
  and density and coverage of Naeem et al. 2020 (https://arxiv.org/abs/2002.09797), from
  k-nearest-neighbour balls, as the ``prdc`` package of Naeem et al. computes them.
"""

from __future__ import annotations

import numpy as np
import torch

from genbench.errors import GenbenchError


def require_count(n: int, minimum: int, what: str) -> None:
    """Raise when a metric gets fewer items than it needs."""
    if n < minimum:
        raise GenbenchError(f"{what}: needs at least {minimum} images, got {n}; raise eval.num_samples")


def gaussian_stats(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (D,) and unbiased covariance (D, D) of (N, D) features, in float64."""
    f = features.double()
    require_count(f.shape[0], 2, "a covariance")
    mu = f.mean(dim=0)
    centred = f - mu
    sigma = centred.T @ centred / (f.shape[0] - 1)
    return mu, sigma


def _sqrt_psd(matrix: torch.Tensor) -> torch.Tensor:
    """Square root of a symmetric positive semi-definite matrix; rounding negatives count as 0."""
    w, v = torch.linalg.eigh(matrix)
    return (v * w.clamp(min=0).sqrt()) @ v.T


def frechet_distance(mu1: torch.Tensor, sigma1: torch.Tensor, mu2: torch.Tensor, sigma2: torch.Tensor) -> float:
    """||mu1 - mu2||² + Tr(S1 + S2 - 2 (S1 S2)^½) between N(mu1, S1) and N(mu2, S2).

    Tr (S1 S2)^½ is the sum of the square roots of the eigenvalues of S1 S2, which are those of
    the symmetric matrix S1^½ S2 S1^½; working with that symmetric form (eigh) stays accurate
    when the covariances are singular, as they are whenever there are fewer samples than
    feature dimensions.
    """
    mu1, mu2, sigma1, sigma2 = mu1.double(), mu2.double(), sigma1.double(), sigma2.double()
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise GenbenchError(
            f"Fréchet distance of features of different sizes: {tuple(mu1.shape)} vs {tuple(mu2.shape)}"
        )
    root1 = _sqrt_psd(sigma1)
    middle = root1 @ sigma2 @ root1
    eigenvalues = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0)
    value = (mu1 - mu2).square().sum() + sigma1.trace() + sigma2.trace() - 2 * eigenvalues.sqrt().sum()
    return float(value)


def kid_subset_size(n_real: int, n_fake: int, preferred: int = 1000) -> int:
    """The subset size KID uses: 1000 as in the paper, or all the samples when there are fewer."""
    return min(preferred, n_real, n_fake)


def _poly_mmd2(f_real: torch.Tensor, f_fake: torch.Tensor) -> torch.Tensor:
    """Unbiased MMD² with the kernel k(a, b) = (a·b / D + 1)³."""
    d = f_real.shape[1]
    k_rr = (f_real @ f_real.T / d + 1) ** 3
    k_ff = (f_fake @ f_fake.T / d + 1) ** 3
    k_rf = (f_real @ f_fake.T / d + 1) ** 3
    m = f_real.shape[0]
    # Unbiased: the diagonal k(x, x) terms are left out of the within-set averages.
    within = (k_rr.sum() - k_rr.diagonal().sum() + k_ff.sum() - k_ff.diagonal().sum()) / (m * (m - 1))
    return within - 2 * k_rf.sum() / m**2


def kernel_distance(
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    subsets: int = 100,
    subset_size: int | None = None,
    seed: int = 0,
) -> float:
    """KID: the mean over ``subsets`` random subsets of the polynomial-kernel MMD².

    Subsets are drawn as torch-fidelity draws them (``numpy.random.RandomState(seed).choice``
    without replacement, first from the first set, then from the second, per subset), so the
    same seed gives torch-fidelity's value when ``real`` is its input1 and ``fake`` its input2
    (the estimator is symmetric in the two sets).
    """
    size = subset_size if subset_size is not None else kid_subset_size(len(real), len(fake))
    require_count(min(len(real), len(fake)), max(size, 2), "KID")
    real, fake = real.double(), fake.double()
    rng = np.random.RandomState(seed)
    values = []
    for _ in range(subsets):
        r = real[torch.from_numpy(rng.choice(len(real), size, replace=False))]
        f = fake[torch.from_numpy(rng.choice(len(fake), size, replace=False))]
        values.append(_poly_mmd2(r, f))
    return float(torch.stack(values).mean())


def split_score(logits: torch.Tensor, *, splits: int = 1, seed: int = 0) -> float:
    """exp E_x KL(p(y|x) || p(y)), averaged over ``splits`` random splits of the (N, K) logits.

    With ``splits > 1`` the rows are shuffled by ``numpy.random.RandomState(seed).permutation``
    and split i holds rows [i N / splits, (i + 1) N / splits), as torch-fidelity's Inception
    Score does; each split uses its own marginal p(y).
    """
    n = len(logits)
    require_count(n, max(splits, 2), "a classifier/Inception score")
    logits = logits.double()
    if splits > 1:
        logits = logits[torch.from_numpy(np.random.RandomState(seed).permutation(n))]
    scores = []
    for i in range(splits):
        chunk = logits[i * n // splits : (i + 1) * n // splits]
        log_p = chunk.log_softmax(dim=1)  # log p(y|x), (n, K)
        log_marginal = log_p.exp().mean(dim=0).log()  # log p(y), (K,)
        p = log_p.exp()
        # Classes with p(y|x) = 0 contribute 0 (the limit of p log p), not 0 * -inf = NaN.
        kl = torch.where(p > 0, p * (log_p - log_marginal), 0.0).sum(dim=1)  # (n,)
        scores.append(kl.mean().exp())
    return float(torch.stack(scores).mean())


def _kth_neighbour_distances(x: torch.Tensor, k: int, block: int) -> torch.Tensor:
    """Distance of each row of (N, D) ``x`` to its k-th nearest other row, (N,)."""
    out = []
    for i in range(0, len(x), block):
        d = torch.cdist(x[i : i + block], x)  # (b, N); the row itself is at distance 0
        out.append(d.topk(k + 1, dim=1, largest=False).values[:, k])
    return torch.cat(out)


def prdc(real: torch.Tensor, fake: torch.Tensor, *, k: int = 5, block: int = 512) -> dict[str, float]:
    """Precision, recall, density and coverage of ``fake`` against ``real`` features, (N, D) and (M, D).

    Each real point gets a ball reaching its k-th nearest real neighbour, each fake point one
    reaching its k-th nearest fake neighbour (Euclidean distance, strict inequalities, as in
    the ``prdc`` package):

    - precision: the fraction of fake points inside some real ball (fidelity);
    - recall: the fraction of real points inside some fake ball (diversity);
    - density: the number of real balls holding a fake point, averaged over fake points, / k;
    - coverage: the fraction of real balls whose nearest fake point lies inside them.

    Distances are computed in float64 a block of real points at a time, so memory stays at
    block x M however large the sets are.
    """
    require_count(min(len(real), len(fake)), k + 1, f"precision/recall with k = {k}")
    real, fake = real.double(), fake.double()
    real_radii = _kth_neighbour_distances(real, k, block)  # (N,)
    fake_radii = _kth_neighbour_distances(fake, k, block)  # (M,)
    in_real_balls = torch.zeros(len(fake), dtype=torch.float64)  # per fake point: how many real balls hold it
    recalled = covered = 0
    for i in range(0, len(real), block):
        d = torch.cdist(real[i : i + block], fake)  # (b, M)
        radii = real_radii[i : i + block, None]  # (b, 1)
        in_real_balls += (d < radii).sum(dim=0)
        recalled += int((d < fake_radii[None, :]).any(dim=1).sum())
        covered += int((d.min(dim=1).values < radii[:, 0]).sum())
    return {
        "precision": float((in_real_balls > 0).double().mean()),
        "recall": recalled / len(real),
        "density": float(in_real_balls.mean()) / k,
        "coverage": covered / len(real),
    }
