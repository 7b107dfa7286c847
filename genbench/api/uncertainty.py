"""How sure a number is: the intervals every metric value carries, and the rules that rank with them.

Three kinds of evaluation interval, all 95% and computed from what a metric already holds:

- a **mean over images** (nll, recon-mse, psnr, accuracy, probe-acc, cond-acc...):
  the t-interval mean ± t(0.975, n-1) · s / √n of the per-image values (:func:`mean_interval`);
- a **set statistic** (clf-fd, fid, is, clf-score, translation FDs): a seeded bootstrap that
  resamples, with replacement, the generated set the estimator reads (:func:`resample_counts`,
  :func:`recentred_interval`): what another evaluation draws again. The reference images are
  fixed by the benchmark and shared by every model, so their noise is not resampled. The
  Fréchet distance is biased upward at a finite sample count, and more so on a bootstrap
  resample, whose duplicates shrink the effective count:
  a plain percentile interval of FD* would sit above the value. genbench takes only the
  bootstrap's spread, FD ± 1.96 sd(FD*), leaving its bias (mean FD* − FD) out, so the
  interval is centred on the observed value and has the bootstrap's spread: it
  is an interval for the FD *at this sample count* (what another draw of samples would give on
  average), not for the infinite-sample FD, which ``fid-inf``/``clf-fd-inf`` estimate;
- a **share of images** that can sit at 0 or 1 (translate-domain-acc): Wilson's score
  interval (:func:`proportion_interval`), which, unlike the t-interval, keeps a width there;
- **KID**: the normal interval of its first-order (Hoeffding) standard error in the samples
  (genbench.metrics.extractors.stats.kernel_distance_se), a bootstrap being a hundred KIDs;
- **AUROC** (ood-auroc): DeLong et al. 1988's variance of the Mann-Whitney statistic
  (:func:`delong_interval`), with the midrank algorithm of Sun & Xu 2014.

Across seeds a row's mean gets the t-interval over its seeds (:func:`mean_interval` again), and
two rows are ordered only when the difference is resolved (:func:`resolved`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

LEVEL = 0.95  # every interval genbench stores or shows
BOOTSTRAP_RESAMPLES = 100  # sd* to about 7%: enough for a 95% interval, and cheap on features (benchmarks/intervals.py)


@dataclass(frozen=True)
class Interval:
    """A 95% interval around a value and how it was computed (``method``, stored beside it)."""

    low: float
    high: float
    method: str  # e.g. "t", "bootstrap-200", "delong", "seeds-t"

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def contains(self, x: float) -> bool:
        return self.low <= x <= self.high


def _t_quantile(df: int, level: float = LEVEL) -> float:
    from scipy.stats import t

    return float(t.ppf(0.5 + level / 2, df))


def _z() -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + LEVEL / 2))


def mean_interval(values: Sequence[float] | np.ndarray, method: str = "t") -> Interval | None:
    """The t-interval of the mean of ``values`` (None for fewer than two values).

    Equals ``scipy.stats.t.interval(0.95, n - 1, loc=mean, scale=sem)``; for 0/1 values (an
    accuracy) it is the Wald interval, which the large test sets here make accurate enough.
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    n = len(x)
    if n < 2 or not np.isfinite(x).all():
        return None
    mean = float(x.mean())
    se = float(x.std(ddof=1) / math.sqrt(n))
    q = _t_quantile(n - 1)
    return Interval(mean - q * se, mean + q * se, method)


def proportion_interval(hits: int, n: int) -> Interval | None:
    """Wilson's 95% score interval for ``hits`` successes in ``n`` trials (None for n = 0).

    At 0 or n hits the t-interval of the 0/1 values has no width, as if the share were exact;
    Wilson's does not (0 of 5,000: [0, 0.00077]), so a value at either end still ranks by it.
    """
    if n <= 0:
        return None
    z = _z()
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # Exactly 0 and 1 at the ends (centre - half leaves a rounding residue of about 1e-20 there).
    low = 0.0 if hits == 0 else max(0.0, centre - half)
    high = 1.0 if hits == n else min(1.0, centre + half)
    return Interval(low, high, "wilson")


def resample_counts(n: int, resamples: int, seed: int) -> np.ndarray:
    """(resamples, n) multiplicities of a bootstrap: row b says how often each of n items is drawn.

    Drawn with numpy's PCG64 from ``seed``, so a seed gives the same resamples on every machine.
    Counts (not index lists) let a statistic be computed as a weighted sum, all resamples at once.
    """
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.float64)


def recentred_interval(observed: float, replicates: np.ndarray, method: str) -> Interval | None:
    """The bootstrap's spread placed around the observed value, its bias removed (see the module docstring).

    observed ± z(0.975) · sd*, sd* the standard deviation of the replicates: the replicates' mean,
    biased upward for a Fréchet distance, plays no part. A normal interval from sd* is steadier
    than the 2.5% and 97.5% points of 100 replicates, which rest on two or three of them.
    """
    r = np.asarray(replicates, dtype=np.float64)
    r = r[np.isfinite(r)]
    if len(r) < 2:
        return None
    half = _z() * float(r.std(ddof=1))
    return Interval(observed - half, observed + half, method)


# -- DeLong's interval for an AUROC ----------------------------------------------------------


def _midranks(x: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(x)  # ties share the mean rank


def delong_interval(inlier_scores: np.ndarray, outlier_scores: np.ndarray) -> tuple[float, Interval | None]:
    """AUROC of outliers versus inliers (ties count one half) and DeLong's 95% interval.

    DeLong, DeLong & Clarke-Pearson 1988, Biometrics 44(3); structural components by midranks
    as in Sun & Xu 2014 (IEEE SPL 21(11)). The interval is AUC ± z(0.975) · se, cut to [0, 1].
    """
    x = np.asarray(outlier_scores, dtype=np.float64)  # positives: should score higher
    y = np.asarray(inlier_scores, dtype=np.float64)
    m, n = len(x), len(y)
    tz = _midranks(np.concatenate([x, y]))
    tx, ty = _midranks(x), _midranks(y)
    auc = float((tz[:m].sum() - m * (m + 1) / 2) / (m * n))
    if m < 2 or n < 2:
        return auc, None
    v10 = (tz[:m] - tx) / n  # per positive: fraction of negatives below it
    v01 = 1.0 - (tz[m:] - ty) / m  # per negative: fraction of positives above it
    var = float(v10.var(ddof=1) / m + v01.var(ddof=1) / n)
    se = math.sqrt(max(var, 0.0))
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + LEVEL / 2))
    return auc, Interval(max(0.0, auc - z * se), min(1.0, auc + z * se), "delong")


# -- comparing two sets of values ------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One row's values for one metric: a value per seed (run) and each value's evaluation interval."""

    values: tuple[float, ...]
    seeds: tuple[int, ...]
    intervals: tuple[Interval | None, ...]

    @property
    def mean(self) -> float:
        return float(np.mean(self.values))

    def interval(self) -> Interval | None:
        """Over seeds (t-interval) with two or more, else the one value's evaluation interval."""
        if len(self.values) >= 2:
            return mean_interval(self.values, "seeds-t")
        return self.intervals[0] if self.intervals else None

    def eval_half_width(self) -> float | None:
        """The mean half-width of the evaluation intervals of its values: the evaluation noise."""
        widths = [i.half_width for i in self.intervals if i is not None]
        return float(np.mean(widths)) if widths else None


def better(a: float, b: float, direction: str) -> bool:
    return a < b if direction == "min" else a > b


def resolved(a: Entry, b: Entry) -> bool:
    """Whether the difference between two rows is resolved at 95%.

    The rule: when the rows share two or more seeds, the paired t-interval of the per-seed
    differences must exclude 0; otherwise their intervals (over seeds, or the evaluation
    interval of a single seed) must not overlap. A row without an interval resolves nothing.
    """
    common = sorted(set(a.seeds) & set(b.seeds))
    if len(common) >= 2:
        av = dict(zip(a.seeds, a.values))
        bv = dict(zip(b.seeds, b.values))
        diffs = [av[s] - bv[s] for s in common]
        iv = mean_interval(diffs)
        if iv is None:
            return False
        if iv.low == iv.high == 0.0:
            return False
        return iv.low > 0 or iv.high < 0
    ia, ib = a.interval(), b.interval()
    if ia is None or ib is None:
        return False
    return ia.high < ib.low or ib.high < ia.low


def tied_ranks(entries: Sequence[Entry], direction: str) -> list[int]:
    """A rank per entry: 1 + the number of entries resolved better than it.

    Unresolved differences share a rank (shown ``1=``); ranks never order a pair whose
    difference is not resolved, and a resolved better entry always ranks strictly ahead.
    """
    ranks = []
    for i, e in enumerate(entries):
        ahead = sum(1 for j, o in enumerate(entries) if j != i and better(o.mean, e.mean, direction) and resolved(o, e))
        ranks.append(1 + ahead)
    return ranks


def rank_labels(ranks: Sequence[int]) -> list[str]:
    """'1', '2=', '2=', '4': a shared rank carries '='."""
    return [f"{r}=" if list(ranks).count(r) > 1 else str(r) for r in ranks]


@dataclass(frozen=True)
class Comparison:
    """A minus B on one metric: the difference, its 95% interval and P(A better than B)."""

    difference: float
    interval: Interval | None
    p_better: float
    paired_seeds: int


def compare_entries(a: Entry, b: Entry, direction: str, *, draws: int = 20000, seed: int = 0) -> Comparison:
    """Difference of means A − B with a 95% interval, and the probability of improvement.

    Interval: paired t over matching seeds when two or more match; else Welch's t, each side
    contributing its variance over seeds (two or more) or, for a single run, the variance its
    evaluation interval implies; with one run on each side, the normal interval of the two.
    P(A better than B): the chance that a random run of A beats a random run of B (paired by
    seed where seeds match), each run's value drawn with its evaluation noise (normal, sd from
    its interval), estimated from ``draws`` seeded draws.
    """
    from scipy.stats import norm

    diff = a.mean - b.mean
    common = sorted(set(a.seeds) & set(b.seeds))
    av, bv = dict(zip(a.seeds, a.values)), dict(zip(b.seeds, b.values))
    interval: Interval | None
    if len(common) >= 2:
        d = [av[s] - bv[s] for s in common]
        base = mean_interval(d, "paired-t")
        interval = None if base is None else Interval(base.low - np.mean(d) + diff, base.high - np.mean(d) + diff,
                                                      "paired-t")  # fmt: skip
    else:
        # Unpaired: each side's variance of its mean, over seeds (2+ seeds) or from its evaluation
        # interval (one seed); Welch's t with the seeded sides' degrees of freedom (an evaluation-only
        # side counts as known: it adds none).
        parts = []
        for e in (a, b):
            n = len(e.values)
            if n >= 2:
                parts.append((float(np.var(e.values, ddof=1)) / n, n - 1))
            else:
                half = e.eval_half_width()
                parts.append((float("nan"), 0) if half is None else ((half / _z()) ** 2, 0))
        var = sum(v for v, _ in parts)
        if not math.isfinite(var):
            interval = None
        else:
            seeded = [(v, df) for v, df in parts if df > 0]
            if seeded:
                df = var**2 / sum(v**2 / d for v, d in seeded) if any(v > 0 for v, _ in seeded) else 1e9
                q, method = _t_quantile(max(1, int(df))), "welch-t"
            else:
                q, method = _z(), "eval-normal"
            interval = Interval(diff - q * math.sqrt(var), diff + q * math.sqrt(var), method)

    rng = np.random.default_rng(seed)
    z = float(norm.ppf(0.5 + LEVEL / 2))

    def sd(e: Entry) -> np.ndarray:
        return np.array([0.0 if i is None else i.half_width / z for i in e.intervals])

    if common:
        ia = np.array([a.seeds.index(s) for s in common])
        ib = np.array([b.seeds.index(s) for s in common])
        pick = rng.integers(0, len(common), draws)
        pa, pb = ia[pick], ib[pick]
    else:
        pa, pb = rng.integers(0, len(a.values), draws), rng.integers(0, len(b.values), draws)
    xa = np.asarray(a.values)[pa] + rng.standard_normal(draws) * sd(a)[pa]
    xb = np.asarray(b.values)[pb] + rng.standard_normal(draws) * sd(b)[pb]
    wins = (xa < xb) if direction == "min" else (xa > xb)
    ties = xa == xb
    p = float(wins.mean() + 0.5 * ties.mean())
    return Comparison(diff, interval, p, len(common))
