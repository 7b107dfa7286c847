"""Evaluation: build the benchmark's metrics for a model and score a trained model."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from genbench.api.anomaly import AnomalyContext
from genbench.api.dataset import ImageData
from genbench.api.metric import Metric, fingerprint_hash
from genbench.api.model import GenerativeModel, eval_fields
from genbench.api.protocols import ProtocolContext
from genbench.api.representation import RepresentationContext
from genbench.benchmarks import Benchmark
from genbench.engine.build import build_metric
from genbench.errors import GenbenchError
from genbench.plugins import Plugins
from genbench.specs import ModelSpec, meets


@dataclass
class Score:
    name: str
    value: float
    direction: str
    unit: str
    fingerprint: dict[str, Any]
    fingerprint_hash: str
    settings: dict[str, Any]
    seconds: float


def metrics_for(
    plugins: Plugins, bench: Benchmark, spec: ModelSpec, shape: tuple[int, int, int]
) -> tuple[list[Metric], dict[str, str]]:
    """The benchmark's metrics this model can be scored on here, and the skipped ones with why.

    Raises before any training when a required metric needs a capability the model lacks or
    cannot run here (e.g. a missing weights file), or when no metric is left. An optional
    metric that cannot run here is skipped, with the reason returned for the user to see.
    """
    caps = set(spec.capabilities)
    skipped: dict[str, str] = {}
    metrics = []
    for name in bench.metrics:
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
        why = "; ".join(f"{k}: {v}" for k, v in skipped.items())
        raise GenbenchError(
            f"model '{spec.name}' ({', '.join(sorted(caps))}) can be scored on none of benchmark "
            f"'{bench.name}''s metrics here" + (f" ({why})" if why else ": pick another benchmark")
        )
    return metrics, skipped


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
    representation: RepresentationContext | None = None,
    anomaly: AnomalyContext | None = None,
) -> list[Score]:
    model.to(device).eval()
    ctx = ProtocolContext(
        model, data, num_samples, device, seed=seed, batch_size=batch_size, cache_dir=cache_dir,
        representation=representation, anomaly=anomaly,
    )  # fmt: skip
    settings = eval_fields(model.config)
    scores = []
    for metric in metrics:
        t0 = time.perf_counter()
        value = metric.compute(ctx)
        fp = dict(value.fingerprint)
        scores.append(
            Score(
                metric.spec.name,
                float(value.value),
                metric.spec.direction,
                metric.spec.unit,
                fp,
                fingerprint_hash(fp),
                {**settings, **value.settings},
                time.perf_counter() - t0,
            )
        )
    return scores
