"""Precision, recall, density and coverage on the same features as clf-fd and fid.

Fréchet distances fold fidelity and diversity into one number; these four separate them
(a collapsed GAN: high precision, low recall; a blurry VAE: low precision and density):

- precision and recall, Kynkäänniemi et al. 2019 (https://arxiv.org/abs/1904.06991);
- density and coverage, Naeem et al. 2020 (https://arxiv.org/abs/2002.09797),

Each value's interval is the t-interval of the mean of its points' shares (genbench.api.uncertainty),
with the k-NN balls held fixed: it is the noise of which points were drawn, not of the balls' radii.

All from k-nearest-neighbour balls with k = 5, computed as the ``prdc`` package of Naeem et al.
computes them (:func:`genbench.metrics.extractors.stats.prdc`). The papers used VGG-16 features; genbench
uses its offline classifier's (``clf-*``) and Inception's pool features (``inception-*``),
hence the prefixes. Each metric's spec names its quantity in ``options["quantity"]``; the four
of one feature set share one computation per evaluation.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch

from genbench.api.metric import EvalContext, MetricValue, fingerprint_hash
from genbench.api.uncertainty import Interval, mean_interval
from genbench.metrics.classifier_metrics import _ClassifierMetric
from genbench.metrics.extractors.features import (
    FeatureExtractor,
    reference_features,
    reference_identity,
    sample_features,
)
from genbench.metrics.extractors.stats import prdc_points, require_count
from genbench.metrics.inception import _InceptionMetric

K = 5  # neighbourhood size: the prdc package's and Naeem et al.'s recommendation
QUANTITIES = ("precision", "recall", "density", "coverage")

# The four values per (samples tensor, extractor, reference, k), kept while the samples live.
_MEMO: dict[int, tuple[weakref.ref[torch.Tensor], dict[str, dict[str, tuple[float, Interval | None]]]]] = {}


def prdc_values(extractor: FeatureExtractor, ctx: EvalContext, k: int = K) -> dict[str, tuple[float, Interval | None]]:
    """Precision, recall, density and coverage of ``ctx``'s samples against its reference images, each
    with its interval."""
    samples = ctx.samples()
    entry = _MEMO.get(id(samples))
    if entry is None or entry[0]() is not samples:
        entry = (weakref.ref(samples, lambda _, key=id(samples): _MEMO.pop(key, None)), {})
        _MEMO[id(samples)] = entry
    key = fingerprint_hash({**extractor.identity(), **reference_identity(ctx), "k": k})
    if key not in entry[1]:
        fake = sample_features(extractor, samples, ctx.device)["features"]
        real = reference_features(extractor, ctx)["features"]
        points = prdc_points(real, fake, k=k)
        entry[1][key] = {q: (float(v.mean()), mean_interval(v, "t-balls-fixed")) for q, v in points.items()}
    return entry[1][key]


def _quantity(metric: Any) -> str:
    quantity = metric.spec.options.get("quantity", "")
    if quantity not in QUANTITIES:
        raise ValueError(f"metric {metric.spec.name}: options['quantity'] must be one of {QUANTITIES}")
    return quantity


class ClassifierPRDC(_ClassifierMetric):
    """One of precision/recall/density/coverage on the offline classifier's features (higher is better)."""

    version = 1

    def compute(self, ctx: EvalContext) -> MetricValue:
        quantity = _quantity(self)
        require_count(ctx.num_samples, K + 1, self.spec.name)
        extractor = self.extractor(ctx)
        value, interval = prdc_values(extractor, ctx)[quantity]
        fingerprint = self.fingerprint(ctx, extractor, **reference_identity(ctx), prdc_k=K)
        return MetricValue(value, fingerprint, interval=interval)


class InceptionPRDC(_InceptionMetric):
    """One of precision/recall/density/coverage on Inception pool features (higher is better)."""

    version = 1

    def compute(self, ctx: EvalContext) -> MetricValue:
        quantity = _quantity(self)
        require_count(ctx.num_samples, K + 1, self.spec.name)
        extractor = self.extractor()
        value, interval = prdc_values(extractor, ctx)[quantity]
        return self.value(value, ctx, extractor, interval, **reference_identity(ctx), prdc_k=K)
