"""Evaluation: build the benchmark's metrics for a model and score a trained model."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from genbench.api.anomaly import AnomalyContext
from genbench.api.cost import NetworkCounter
from genbench.api.dataset import ImageData
from genbench.api.metric import _ACTIVE, Metric, Score, fingerprint_hash
from genbench.api.model import GenerativeModel, eval_fields
from genbench.api.protocols import ProtocolContext
from genbench.api.representation import RepresentationContext
from genbench.api.restoration import RestorationContext
from genbench.benchmarks import Benchmark
from genbench.config import EvalConfig
from genbench.engine.build import build_metric
from genbench.engine.device import rng_state, seed_everything, set_rng_state
from genbench.engine.distribution import ONE_PROCESS, Distribution
from genbench.errors import GenbenchError, blame, did_you_mean
from genbench.plugins import Plugins
from genbench.specs import ModelSpec, meets

DEFAULT_EVAL_SEED = EvalConfig().seed


def metrics_for(
    plugins: Plugins,
    bench: Benchmark,
    spec: ModelSpec,
    shape: tuple[int, int, int],
    only: Sequence[str] | None = None,
) -> tuple[list[Metric], dict[str, str]]:
    """The benchmark's metrics this model can be scored on here, and the skipped ones with why.

    ``only`` (``genbench run --metric``): just these of the benchmark's metrics, the others neither
    checked nor scored.

    Raises before any training when a required metric needs a capability the model lacks or
    cannot run here (e.g. a missing weights file), or when no metric is left. An optional
    metric that cannot run here is skipped, with the reason returned for the user to see.
    """
    caps = set(spec.capabilities)
    skipped: dict[str, str] = {}
    metrics = []
    offered = [*bench.metrics, *bench.optional_metrics]
    for name in only or ():
        if name not in offered:
            raise GenbenchError(
                f"--metric {name}: benchmark '{bench.name}' scores {', '.join(offered)}{did_you_mean(name, offered)}"
            )
    for name in bench.metrics:
        if only and name not in only:
            continue
        mspec = plugins.metrics.get(name)
        if not meets(mspec.requires, caps):
            raise GenbenchError(
                f"benchmark '{bench.name}' needs metric '{name}', which needs a model that can "
                f"'{mspec.requires}'; model '{spec.name}' cannot: pick another model or benchmark"
            )
        metric = build_metric(mspec)
        metric.check(bench.dataset, shape)
        metrics.append(metric)
    for name in bench.optional_metrics:
        if only and name not in only:
            continue
        mspec = plugins.metrics.get(name)
        if not meets(mspec.requires, caps):
            continue
        metric = build_metric(mspec)
        try:
            metric.check(bench.dataset, shape)
        except GenbenchError as exc:
            skipped[name] = str(exc)
            continue
        metrics.append(metric)
    if not metrics:
        if skipped:  # say only what the user must fix: each missing thing once
            raise GenbenchError(
                f"no metric of benchmark '{bench.name}' can run here: " + "; ".join(grouped_reasons(skipped))
            )
        raise GenbenchError(
            f"model '{spec.name}' ({', '.join(sorted(caps))}) can be scored on none of benchmark "
            f"'{bench.name}''s metrics: pick another benchmark"
        )
    return metrics, skipped


def grouped_reasons(skipped: dict[str, str]) -> list[str]:
    """'metrics fid, kid, is skipped: why' lines: one reason (a missing weights file) is said once."""
    by_reason: dict[str, list[str]] = {}
    for name, why in skipped.items():
        by_reason.setdefault(why, []).append(name)
    return [
        f"metric{'s' if len(names) > 1 else ''} {', '.join(names)} skipped: {why}" for why, names in by_reason.items()
    ]


def _reads_samples(metric: Metric) -> bool:
    return bool({"sample", "conditional"} & set((metric.spec.requires or "").split("|")))


def evaluate(
    model: GenerativeModel,
    metrics: list[Metric],
    data: ImageData,
    *,
    num_samples: int,
    device: torch.device,
    seed: int,
    batch_size: int,
    cache_dir: Path,
    progress: Callable[[str, int, int], None] | None = None,
    origin: Callable[[str], str] | None = None,
    reference_split: str = "test",
    reference_count: int = 0,
    test_count: int = 0,
    probe_count: int = 0,
    representation: RepresentationContext | None = None,
    anomaly: AnomalyContext | None = None,
    restoration: RestorationContext | None = None,
    dist: Distribution = ONE_PROCESS,
    noise_images: int = 0,
) -> list[Score]:
    """Score ``model`` on each metric; ``progress(task, done, total)`` hears how far each long step is.

    A metric that raises anything but a GenbenchError becomes a PluginFault naming
    ``origin(metric name)``: the distribution and version of the plugin that registered it.
    ``dist`` lets the processes of a torchrun launch share the sampling (one process: nothing to share).
    """
    model.to(device).eval()
    ctx = ProtocolContext(
        model, data, num_samples, device, seed=seed, batch_size=batch_size, cache_dir=cache_dir,
        reference_split=reference_split, reference_count=reference_count, test_count=test_count,
        probe_count=probe_count, noise_images=noise_images,
        representation=representation, anomaly=anomaly, restoration=restoration,
    )  # fmt: skip
    ctx.progress = progress
    settings = eval_fields(model.config)
    # Another evaluation seed is another draw of samples and noise: its values form a row of their
    # own (the leaderboard splits rows on eval_seed), never mixed with the default draw's.
    seed_setting = {} if seed == DEFAULT_EVAL_SEED else {"eval_seed": seed}
    scores = []
    token = _ACTIVE.set(ctx)  # feature extractors report through it
    counter = NetworkCounter(model)
    try:
        with counter:
            t_shared = time.perf_counter()
            dist.share_sampling(ctx, metrics)  # under torchrun, every rank samples and extracts a share
            # Work done for several metrics is charged to the first that needs it: samples drawn here
            # (torchrun) to the first sample metric, a shared likelihood pass to whichever metric ran it.
            shared = (time.perf_counter() - t_shared, counter.evaluations)
            first_sampler = next((m for m in metrics if _reads_samples(m)), metrics[0] if metrics else None)
            for metric in metrics:
                ctx.report(f"metric {metric.spec.name}", 0, 1)
                t0 = time.perf_counter()
                evals0 = counter.evaluations
                # Estimators that draw from the global generators (an IWAE bound's z, a dequantisation's
                # noise) draw the same numbers at every evaluation: each metric starts from the eval seed,
                # whatever ran before it, and the caller's generator state is given back afterwards.
                saved = rng_state()
                seed_everything(seed)
                try:
                    with blame((origin or str)(metric.spec.name), f"computing metric '{metric.spec.name}'"):
                        value = metric.compute(ctx)
                finally:
                    set_rng_state(saved)
                seconds, evaluations = time.perf_counter() - t0, counter.evaluations - evals0
                if metric is first_sampler:
                    seconds, evaluations = seconds + shared[0], evaluations + shared[1]
                fp = dict(value.fingerprint)
                scores.append(
                    Score(
                        value.name or metric.spec.name,
                        float(value.value),
                        metric.spec.direction,
                        metric.spec.unit,
                        fp,
                        fingerprint_hash(fp),
                        {**settings, **value.settings, **seed_setting},
                        seconds,
                        value.interval,
                        evaluations,
                    )
                )
                ctx.report(f"metric {metric.spec.name}", 1, 1)
    finally:
        _ACTIVE.reset(token)
    return scores
