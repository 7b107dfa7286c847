"""The evaluation context of protocols beyond sample quality: representation, anomaly detection
and reconstruction from degraded measurements.

:class:`ProtocolContext` is the :class:`~genbench.api.metric.EvalContext` the engine hands to
every metric, with the benchmark's labelled subset and out-of-distribution set attached when
it declares them. Metrics reach them through :func:`representation_of`, :func:`anomaly_of` and :func:`restoration_of`,
which say what is missing when a benchmark does not declare them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from genbench.api.anomaly import AnomalyContext
from genbench.api.metric import EvalContext
from genbench.api.representation import RepresentationContext
from genbench.api.restoration import RestorationContext
from genbench.errors import GenbenchError


@dataclass
class ProtocolContext(EvalContext):
    representation: RepresentationContext | None = None
    anomaly: AnomalyContext | None = None
    restoration: RestorationContext | None = None
    # Per-image results several metrics read (reconstruction errors of the test split...), made once.
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)


def cached(ctx: EvalContext, key: str, compute: Callable[[], Any]) -> Any:
    """``compute()``, made once per evaluation when ``ctx`` can hold it."""
    cache = getattr(ctx, "_cache", None)
    if cache is None:
        return compute()
    if key not in cache:
        cache[key] = compute()
    return cache[key]


def representation_of(ctx: EvalContext, metric: str) -> RepresentationContext:
    rep = getattr(ctx, "representation", None)
    if rep is None:
        raise GenbenchError(f"{metric}: this evaluation has no labelled subset (the engine attaches one)")
    return rep


def anomaly_of(ctx: EvalContext, metric: str) -> AnomalyContext:
    anomaly = getattr(ctx, "anomaly", None)
    if anomaly is None:
        raise GenbenchError(
            f"{metric}: the benchmark names no out-of-distribution set; add `ood: DATASET` under its eval:"
        )
    return anomaly


def restoration_of(ctx: EvalContext, metric: str) -> RestorationContext:
    restoration = getattr(ctx, "restoration", None)
    if restoration is None:
        raise GenbenchError(
            f"{metric}: the benchmark declares no degradation; pick a reconstruction benchmark "
            "(`genbench benchmarks` lists them) or add `degradation:` under its eval:"
        )
    return restoration
