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
- :func:`frechet_bootstrap` and :func:`score_bootstrap`: the seeded bootstrap replicates behind
  the intervals of the Fréchet distances and scores (genbench.api.uncertainty says how the
  interval is read from them).
- :func:`frechet_extrapolated`: FD∞ of Chong & Forsyth 2020 (https://arxiv.org/abs/1911.07023).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from genbench.api.uncertainty import BOOTSTRAP_RESAMPLES, Interval, recentred_interval, resample_counts
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
    return kernel_distance_se(real, fake, subsets=subsets, subset_size=subset_size, seed=seed)[0]


def kernel_distance_se(
    first: torch.Tensor,
    second: torch.Tensor,
    *,
    subsets: int = 100,
    subset_size: int | None = None,
    seed: int = 0,
) -> tuple[float, float]:
    """:func:`kernel_distance` of ``first`` and ``second``, and its standard error from ``first``'s sampling.

    The error is the first-order (Hoeffding) term of the MMD² U-statistic's variance: with
    h(y) = mean over the other points y' of its set of k(y, y') − mean over the other set's x of
    k(x, y), Var ≈ 4 Var(h) / n for the n points of ``first`` (Serfling 1980, 5.5; the variance
    used for MMD tests by Gretton et al. 2012 and Bińkowski et al. 2018, appendix). Var(h) is
    pooled over the subsets from the kernel matrices they already hold, so it costs nothing
    more; ``first`` is the set another evaluation draws again (KID passes the samples first).
    Near MMD² = 0 this term vanishes and the error is understated.
    """
    real, fake = first, second
    size = subset_size if subset_size is not None else kid_subset_size(len(real), len(fake))
    require_count(min(len(real), len(fake)), max(size, 2), "KID")
    real, fake = real.double(), fake.double()
    rng = np.random.RandomState(seed)
    values, spreads = [], []
    d = real.shape[1]
    for _ in range(subsets):
        r = real[torch.from_numpy(rng.choice(len(real), size, replace=False))]
        f = fake[torch.from_numpy(rng.choice(len(fake), size, replace=False))]
        values.append(_poly_mmd2(r, f))
        k_rr = (r @ r.T / d + 1) ** 3
        k_rf = (r @ f.T / d + 1) ** 3
        h = (k_rr.sum(1) - k_rr.diagonal()) / (size - 1) - k_rf.mean(1)  # (size,) per point of `first`
        spreads.append(h.var())
    value = float(torch.stack(values).mean())
    se = 2 * math.sqrt(float(torch.stack(spreads).mean()) / len(first))
    return value, se


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
    return {name: float(values.mean()) for name, values in prdc_points(real, fake, k=k, block=block).items()}


def prdc_points(real: torch.Tensor, fake: torch.Tensor, *, k: int = 5, block: int = 512) -> dict[str, torch.Tensor]:
    """Each point's share of :func:`prdc`: per fake point for precision and density, per real point
    for recall and coverage (float64); each quantity is the mean of its points' values."""
    require_count(min(len(real), len(fake)), k + 1, f"precision/recall with k = {k}")
    real, fake = real.double(), fake.double()
    real_radii = _kth_neighbour_distances(real, k, block)  # (N,)
    fake_radii = _kth_neighbour_distances(fake, k, block)  # (M,)
    in_real_balls = torch.zeros(len(fake), dtype=torch.float64)  # per fake point: how many real balls hold it
    recalled, covered = [], []
    for i in range(0, len(real), block):
        d = torch.cdist(real[i : i + block], fake)  # (b, M)
        radii = real_radii[i : i + block, None]  # (b, 1)
        in_real_balls += (d < radii).sum(dim=0)
        recalled.append((d < fake_radii[None, :]).any(dim=1))
        covered.append(d.min(dim=1).values < radii[:, 0])
    return {
        "precision": (in_real_balls > 0).double(),
        "recall": torch.cat(recalled).double(),
        "density": in_real_balls / k,
        "coverage": torch.cat(covered).double(),
    }


# -- bootstrap replicates ---------------------------------------------------------------------


def _weighted_stats(x: torch.Tensor, counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Means (b, D) and unbiased covariances (b, D, D) of (N, D) ``x`` resampled with the (b, N) multiplicities."""
    n = x.shape[0]
    mu = counts @ x / n  # (b, D)
    # sum_i w_i x_i x_i^T, (b, D, D), in float32: the bulk of the work, 2.5x faster than float64, and
    # its rounding (1e-7 of a centred covariance) is far below the spread the bootstrap measures.
    x32 = x.float()
    second = ((counts.float()[:, :, None] * x32).transpose(1, 2) @ x32).double()
    sigma = (second - n * mu[:, :, None] * mu[:, None, :]) / (n - 1)
    return mu, sigma


def frechet_bootstrap(
    fake: torch.Tensor,
    real: torch.Tensor,
    *,
    seed: int,
    resamples: int = BOOTSTRAP_RESAMPLES,
    device: torch.device | str = "cpu",
) -> np.ndarray:
    """FD of ``resamples`` bootstrap resamples of the samples (with replacement) to the fixed reference: (resamples,).

    Only the generated set is resampled: it is what another evaluation seed draws again, while
    the reference images are fixed by the benchmark and shared by every model, so their noise
    cancels when two models are compared. Resampled statistics are weighted sums of the features
    (multiplicities from :func:`genbench.api.uncertainty.resample_counts`), a chunk at a time to
    bound memory, and Tr (S_f S_r)^½ comes from one symmetric eigenvalue problem per resample
    (S_r^½ is computed once): no network runs.
    """
    # Centre both sets on the real mean: the FD is translation invariant, and float64 sums stay exact.
    mu_r, sigma_r = gaussian_stats(real)
    f = (fake.double() - mu_r).to(device)
    sigma_r = sigma_r.to(device)
    root_r = _sqrt_psd(sigma_r)
    trace_r = sigma_r.trace()
    counts = resample_counts(len(f), resamples, seed)
    if len(f) < f.shape[1]:  # fewer samples than dimensions: the same eigenvalues from N x N matrices
        return _frechet_bootstrap_gram(f, root_r, trace_r, torch.from_numpy(counts).to(f)).numpy()
    chunk = max(1, int(2e7 // (len(f) * f.shape[1])))  # about 160 MB of float64 per chunk (N >= D: D^2 <= N D)
    out = []
    for i in range(0, resamples, chunk):
        mu, sigma = _weighted_stats(f, torch.from_numpy(counts[i : i + chunk]).to(device))
        middle = root_r @ sigma @ root_r
        eig = torch.linalg.eigvalsh((middle + middle.transpose(1, 2)) / 2).clamp(min=0)
        trace = torch.diagonal(sigma, dim1=1, dim2=2).sum(1)
        out.append((mu.square().sum(1) + trace + trace_r - 2 * eig.sqrt().sum(1)).cpu())
    return torch.cat(out).numpy()


def _frechet_bootstrap_gram(
    f: torch.Tensor, root_r: torch.Tensor, trace_r: torch.Tensor, counts: torch.Tensor
) -> torch.Tensor:
    """:func:`frechet_bootstrap`'s replicates for (N, D) features ``f`` with N < D: (b,).

    With multiplicities w (summing to N), S_f = sum_i w_i c_i c_i^T / (N - 1) for the centred rows
    c_i = f_i - mu_w, so S_r^½ S_f S_r^½ = M^T M with M's rows sqrt(w_i / (N - 1)) (S_r^½ c_i)^T,
    and its non-zero eigenvalues are those of the N x N matrix M M^T, whose entries are
    a_i a_j c_i^T S_r c_j. An exact identity: a D x D problem (D = 2,048 for Inception) becomes
    an N x N one, and only the resampled rows (w_i > 0) enter it.
    """
    n = f.shape[0]
    s_r = root_r @ root_r  # S_r as the D x D path sees it (negative eigenvalues clamped)
    p = f @ s_r  # (N, D)
    gram = p @ f.T  # (N, N): f_i^T S_r f_j
    squares = (f * f).sum(1)  # (N,)
    out = []
    for w in counts:
        mu = w @ f / n  # (D,)
        v = p @ mu  # (N,): f_i^T S_r mu
        g = gram - v[:, None] - v[None, :] + mu @ (s_r @ mu)  # (N, N): c_i^T S_r c_j
        a = (w / (n - 1)).sqrt()
        keep = w > 0
        h = (a[:, None] * g * a[None, :])[keep][:, keep]
        eig = torch.linalg.eigvalsh((h + h.T) / 2).clamp(min=0)
        trace = (w @ squares - n * mu @ mu) / (n - 1)
        out.append(mu @ mu + trace + trace_r - 2 * eig.sqrt().sum())
    return torch.stack(out).cpu()


def fd_interval(
    value: float, fake: torch.Tensor, real: torch.Tensor, *, seed: int, device: torch.device | str = "cpu"
) -> Interval | None:
    """The recentred bootstrap interval (genbench.api.uncertainty) of ``value``, the FD of ``fake`` vs ``real``."""
    replicates = frechet_bootstrap(fake, real, seed=seed, device=device)
    return recentred_interval(value, replicates, f"bootstrap-{len(replicates)}")


def score_interval(
    logits: torch.Tensor, *, splits: int, seed: int, resamples: int = BOOTSTRAP_RESAMPLES
) -> Interval | None:
    """The recentred bootstrap interval of :func:`split_score`, resampling the images (rows of ``logits``).

    All resamples at once: with multiplicities w over the images of a split, the score is
    exp(w·A / Σw − Σ_k p̄_k log p̄_k), A_i = Σ_k p_ik log p_ik and p̄ = w·P / Σw, since the mean
    KL(p_i || p̄) splits into those two terms. Each split keeps its own images (the seed's
    permutation, as :func:`split_score` splits), resampled within it.
    """
    value = split_score(logits, splits=splits, seed=seed)
    n = len(logits)
    rows = torch.arange(n)
    if splits > 1:
        rows = torch.from_numpy(np.random.RandomState(seed).permutation(n))
    log_p = logits.double()[rows].log_softmax(dim=1)
    p = log_p.exp()
    a = torch.where(p > 0, p * log_p, 0.0).sum(1)  # (n,)
    counts = torch.from_numpy(resample_counts(n, resamples, seed))  # (B, n)
    scores = torch.zeros(resamples, dtype=torch.float64)
    for i in range(splits):
        lo, hi = i * n // splits, (i + 1) * n // splits
        w = counts[:, lo:hi]
        total = w.sum(1).clamp(min=1)
        mean_p = (w @ p[lo:hi]) / total[:, None]  # (B, K)
        entropy_term = torch.where(mean_p > 0, mean_p * mean_p.log(), 0.0).sum(1)
        scores += ((w @ a[lo:hi]) / total - entropy_term).exp()
    return recentred_interval(value, (scores / splits).numpy(), f"bootstrap-{resamples}")


# -- FD at infinitely many samples --------------------------------------------------------------

INF_FRACTIONS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)  # subset sizes as fractions of the samples (the paper: 15 sizes)
INF_RESAMPLES = 50  # bootstrap replicates of the whole extrapolation, for its interval


def _fd_to_reference(fake: torch.Tensor, root_r: torch.Tensor, trace_r: torch.Tensor) -> float:
    """FD of features ``fake`` (centred on the reference mean) to the reference whose S_r^½ and Tr S_r are given."""
    mu, sigma = gaussian_stats(fake)
    middle = root_r @ sigma @ root_r
    eig = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0)
    return float(mu.square().sum() + sigma.trace() + trace_r - 2 * eig.sqrt().sum())


def _extrapolate(fake: torch.Tensor, root_r: torch.Tensor, trace_r: torch.Tensor, rng: np.random.Generator,
                 repeats: int) -> tuple[float, np.ndarray, np.ndarray]:  # fmt: skip
    n = len(fake)
    sizes = np.array(sorted({max(2, int(round(f * n))) for f in INF_FRACTIONS}))
    means = []
    for size in sizes:
        values = []
        for _ in range(repeats if size < n else 1):
            rows = torch.from_numpy(rng.choice(n, size, replace=False))
            values.append(_fd_to_reference(fake[rows], root_r, trace_r))
        means.append(float(np.mean(values)))
    _, intercept = np.polyfit(1.0 / sizes, np.array(means), 1)
    return float(intercept), sizes, np.array(means)


def frechet_extrapolated(
    fake: torch.Tensor, real: torch.Tensor, *, seed: int, repeats: int = 3, resamples: int = INF_RESAMPLES
) -> tuple[float, Interval | None, np.ndarray, np.ndarray]:
    """FD∞: the intercept of a least-squares line through (1/N, FD_N) at several subset sizes N.

    Chong & Forsyth 2020, "Effectively Unbiased FID and Inception Score and where to find them",
    https://arxiv.org/abs/1911.07023, sec. 3: FD_N is linear in 1/N to first order (its bias is
    of order 1/N), so the intercept estimates the FD of infinitely many samples. Each N below the
    sample count draws ``repeats`` random subsets (seeded) of the samples without replacement;
    the reference's statistics are those of all its images. The interval repeats the whole fit on
    ``resamples`` bootstrap resamples of the samples (recentred, as for FD; the reference is fixed).
    Returns (FD∞, its interval, the sizes N, the mean FD at each size).
    """
    rng = np.random.default_rng(seed)
    mu_r, sigma_r = gaussian_stats(real)
    f = fake.double() - mu_r  # the FD is translation invariant: centre on the reference
    root_r, trace_r = _sqrt_psd(sigma_r), sigma_r.trace()
    value, sizes, means = _extrapolate(f, root_r, trace_r, rng, repeats)
    counts = resample_counts(len(f), resamples, seed + 2).astype(np.int64)
    replicates = [
        _extrapolate(f[torch.from_numpy(np.repeat(np.arange(len(f)), c))], root_r, trace_r, rng, 1)[0] for c in counts
    ]
    interval = recentred_interval(value, np.array(replicates), f"bootstrap-{resamples}")
    return value, interval, sizes, means
