"""Sanity guards on every scored run: a model that learnt nothing is flagged, whatever its family.

A built-in plugin on the ``genbench_evaluated`` hook (registered in ``DEFAULT_PLUGINS`` like
the sample grid). After a run is scored it checks two things and stores what fails as a
warning with the run (``run.message``, shown by ``run``, ``runs``, ``show`` and marked on the
leaderboard); the run stays ``finished`` and its values stay ranked.

- **Samples no closer to the data than noise.** A sample-drawing model's Fréchet distance
  (``clf-fd``, or ``fid`` where it ran) is compared with the same metric, same protocol, on
  pixel noise: independent Gaussian pixels with each pixel's mean and variance over the
  training images, clipped to [0, 1] and rounded to 8 bits like any sample. A model whose
  value is not below the noise's has learnt nothing the metric can see.
- **Labels that do not steer.** A conditional model's ``cond-acc`` is compared with chance,
  1/K for K classes (the labels asked for are class-balanced, so a model that ignores them
  scores 1/K in expectation whatever it draws). It is flagged when it is below twice chance;
  the message gives the one-sided binomial test's p-value against chance, so a reader sees
  whether it is chance or barely above it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from genbench import hookimpl

if TYPE_CHECKING:
    from genbench.engine.evaluate import Score
    from genbench.engine.session import RunSession
    from genbench.store.schema import Run

FRECHET_METRICS = ("clf-fd", "fid")  # the sample-quality distance the noise is scored on, first found
CONDITIONAL_METRIC = "cond-acc"
CHANCE_FACTOR = 2.0  # cond-acc below this many times chance is flagged


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed in log space (exact for the n of an evaluation)."""
    if k <= 0:
        return 1.0
    log_terms = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * math.log(p) + (n - i) * math.log1p(-p)
        for i in range(k, n + 1)
    ]
    top = max(log_terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in log_terms))


def chance_warning(accuracy: float, n: int, num_classes: int) -> str | None:
    """The warning for a conditional accuracy of ``accuracy`` on ``n`` samples, or None."""
    chance = 1.0 / num_classes
    if num_classes < 2 or n < 1 or accuracy >= CHANCE_FACTOR * chance:
        return None
    p = binomial_tail(round(accuracy * n), n, chance)
    verdict = "not above chance" if p >= 0.01 else "barely above chance"
    return (
        f"labels do not steer the samples: {CONDITIONAL_METRIC} {accuracy:.3f} on {n:,} samples is {verdict} "
        f"(1/{num_classes} = {chance:.3f}; binomial test p = {p:.2g}), below {CHANCE_FACTOR:g}x chance"
    )


def noise_warning(session: RunSession, scores: list[Score]) -> str | None:
    """Score pixel noise on the run's Fréchet metric; the warning when the model did no better."""
    by_name = {s.name: s for s in scores}
    metric = next((m for m in session.metrics if m.spec.name in FRECHET_METRICS and m.spec.name in by_name), None)
    if metric is None or "sample" not in session.model.capabilities:
        return None
    score = by_name[metric.spec.name]
    fp = score.fingerprint
    # Imported here, not at the top: this module is a default plugin loaded at start-up, and
    # these import torch, which `genbench --help` must not pay for.
    from genbench.api.metric import EvalContext
    from genbench.engine.pixel_noise import PixelNoise

    noise = PixelNoise(session.data).to(session.device)
    ctx = EvalContext(
        noise, session.data, int(fp.get("num_samples") or session.bench.num_samples[session.run.budget]),
        session.device, seed=session.eval_cfg.seed, batch_size=session.eval_cfg.batch_size,
        cache_dir=session.run_dir.parent.parent / "cache", reference_split=session.bench.reference_split,
        reference_count=session.bench.reference_count,
    )  # fmt: skip
    baseline = float(metric.compute(ctx).value)
    if score.value < baseline:
        return None
    return (
        f"samples no closer to the data than pixel noise: {score.name} {score.value:.4g} against "
        f"{baseline:.4g} for Gaussian pixels with the data's mean and variance"
    )


def run_warnings(session: RunSession, scores: list[Score]) -> list[str]:
    """Every guard's warning for a scored run."""
    warnings = []
    found = noise_warning(session, scores)
    if found:
        warnings.append(found)
    cond = next((s for s in scores if s.name == CONDITIONAL_METRIC), None)
    if cond is not None:
        n = int(cond.fingerprint.get("num_samples") or 0)
        found = chance_warning(cond.value, n, session.data.info.num_classes)
        if found:
            warnings.append(found)
    return warnings


@hookimpl
def genbench_evaluated(run: Run, scores: list[Score], session: RunSession) -> None:
    """Store the guards' warnings with the run, after any training warning already there."""
    warnings = run_warnings(session, scores)
    if not warnings:
        return
    current = session.writer.store.get_run(run.id).message or ""
    new = [w for w in warnings if w not in current]
    if not new:
        return
    parts = [current] if current.startswith("warning:") else []
    session.writer.warn("; ".join(parts + [f"warning: {w}" for w in new]))
