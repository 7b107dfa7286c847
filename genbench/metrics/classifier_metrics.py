"""Metrics on genbench's offline classifier (see :mod:`genbench.metrics.extractors.classifier`).

- ``clf-fd``: Fréchet distance between the classifier's penultimate features of the samples
  and of the test split (the FID recipe on a different network: not comparable with FID);
- ``clf-score``: exp E KL(p(y|x) || p(y)) over the samples, the Inception Score recipe with
  one split, between 1 (no class information) and the number of classes;
- ``cond-acc``: the fraction of class-conditional samples the classifier assigns to the
  label they were asked for.
"""

from __future__ import annotations

from typing import Any

from genbench.api.metric import EvalContext, Metric, MetricValue
from genbench.api.uncertainty import mean_interval
from genbench.errors import GenbenchError
from genbench.metrics.extractors.classifier import CLASSIFIER_SHA256, ClassifierExtractor, load_classifier
from genbench.metrics.extractors.features import (
    FeatureExtractor,
    reference_features,
    reference_identity,
    sample_features,
)
from genbench.metrics.extractors.stats import (
    fd_interval,
    frechet_distance,
    frechet_extrapolated,
    gaussian_stats,
    require_count,
    score_interval,
    split_score,
)


class _ClassifierMetric(Metric):
    reads = frozenset({"num_samples", "batch_size", "seed"})  # the samples: how many, drawn how

    def check(self, data_name: str, shape: tuple[int, int, int]) -> None:
        if data_name not in CLASSIFIER_SHA256:
            raise GenbenchError(
                f"{self.spec.name}: no offline classifier is shipped for dataset '{data_name}' "
                f"(there are: {', '.join(sorted(CLASSIFIER_SHA256))}); use the Inception metrics instead"
            )
        model, _ = load_classifier(data_name)  # a missing or altered weights file fails here, before training
        expected = (model.config.in_channels, model.config.image_size, model.config.image_size)
        if tuple(shape) != expected:
            raise GenbenchError(f"{self.spec.name}: the '{data_name}' classifier takes {expected} images, not {shape}")

    def extractor(self, ctx: EvalContext) -> ClassifierExtractor:
        self.check(ctx.data.name, ctx.data.info.shape)
        return ClassifierExtractor(ctx.data.name)

    def sample_extractors(self, ctx: EvalContext) -> list[FeatureExtractor]:
        return [self.extractor(ctx)]

    def fingerprint(self, ctx: EvalContext, extractor: ClassifierExtractor, **extra: Any) -> dict[str, Any]:
        return {**self.base_fingerprint(ctx), **extractor.identity(), **extra}


class ClassifierFD(_ClassifierMetric):
    """Fréchet distance of classifier features, samples vs test split (lower is better)."""

    version = 1

    def compute(self, ctx: EvalContext) -> MetricValue:
        require_count(ctx.num_samples, 2, self.spec.name)
        extractor = self.extractor(ctx)
        fake = sample_features(extractor, ctx.samples(), ctx.device)["features"]
        real = reference_features(extractor, ctx)
        mu, sigma = gaussian_stats(fake)
        value = frechet_distance(mu, sigma, real["mu"], real["sigma"])
        interval = fd_interval(value, fake, real["features"], seed=ctx.seed, device=ctx.device)
        return MetricValue(value, self.fingerprint(ctx, extractor, **reference_identity(ctx)), interval=interval)


class ClassifierFDInf(_ClassifierMetric):
    """clf-fd extrapolated to infinitely many samples (Chong & Forsyth 2020), lower is better."""

    version = 1

    def compute(self, ctx: EvalContext) -> MetricValue:
        require_count(ctx.num_samples, 20, self.spec.name)
        extractor = self.extractor(ctx)
        fake = sample_features(extractor, ctx.samples(), ctx.device)["features"]
        real = reference_features(extractor, ctx)["features"]
        value, interval, sizes, _ = frechet_extrapolated(fake, real, seed=ctx.seed)
        extra = {**reference_identity(ctx), "fd_inf_sizes": [int(n) for n in sizes]}
        return MetricValue(value, self.fingerprint(ctx, extractor, **extra), interval=interval)


class ClassifierScore(_ClassifierMetric):
    """Classifier score of the samples, the Inception Score analogue (higher is better)."""

    version = 1

    def compute(self, ctx: EvalContext) -> MetricValue:
        require_count(ctx.num_samples, 2, self.spec.name)
        extractor = self.extractor(ctx)
        logits = sample_features(extractor, ctx.samples(), ctx.device)["logits"]
        interval = score_interval(logits, splits=1, seed=ctx.seed)
        return MetricValue(split_score(logits, splits=1), self.fingerprint(ctx, extractor), interval=interval)


class ConditionalAccuracy(_ClassifierMetric):
    """Fraction of class-conditional samples classified as their requested label (higher is better)."""

    version = 1

    def compute(self, ctx: EvalContext) -> MetricValue:
        require_count(ctx.num_samples, 1, self.spec.name)
        extractor = self.extractor(ctx)
        x, labels = ctx.conditional_samples()
        logits = sample_features(extractor, x, ctx.device, "conditional samples")["logits"]
        correct = (logits.argmax(dim=1) == labels).double()
        return MetricValue(float(correct.mean()), self.fingerprint(ctx, extractor), interval=mean_interval(correct))
