"""Metrics of the ``translate`` capability, each computed for one direction (a2b or b2a).

- ``translate-acc-<dir>``: label preservation. A small classifier of the *target* domain,
  trained by genbench on that domain's real training images only, classifies the translated
  test images; the value is the fraction given the source image's label. This is the
  CycleGAN paper's FCN-score idea (Zhu et al. 2017, sec. 5.1.1: an off-the-shelf recogniser of
  the target domain reads the translations; there, labels of Cityscapes photos) on digits.
- ``translate-fd-<dir>``: Fréchet distance between that classifier's penultimate features of
  the translations and of every real test image of the target domain (the FID recipe on a
  different network: not comparable with FID).
- ``cycle-l1-<dir>``: mean absolute pixel error (images in [0, 1]) of the round trip,
  |F(G(a)) - a| for a2b and |G(F(b)) - b| for b2a.
- ``translate-domain-acc-<dir>``: realism as the target domain. A domain classifier (A vs B),
  trained by genbench on both domains' real training images, reads the translated test
  images; the value is the fraction it assigns to the target domain. Doing nothing scores
  about 0 by construction (the classifier tells the source domain's own images apart), so
  the ranking cannot be won by the identity; read it beside label preservation, which a
  translator that draws any B image regardless of its input would lose.
- ``translate-success-<dir>``: the fraction of translated test images that are both: called
  the target domain by the domain classifier, and given the source image's label by the
  target domain's label classifier. One number that neither doing nothing (the wrong domain:
  0) nor drawing target-domain images regardless of the input (the right label at chance)
  can win: the benchmarks' headline.
- ``gt-l1-<dir>``: mean absolute pixel error of the translation against the known
  counterpart, on pairs whose test images have one (the built-in recoloured pairs). For
  ``mnist2color`` the b2a answer is determined (the grey digit) while a2b's colours are one
  random draw of many, so a2b's error has a floor no translator can go below.

Doing nothing scores too: the ``identity`` baseline (translate returns its input) shows the
floor of every one of these numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genbench.api.metric import EvalContext, Metric, MetricValue
from genbench.api.translation import TranslationContext, source_domain, target_domain, translation_context
from genbench.api.uncertainty import mean_interval, proportion_interval
from genbench.errors import GenbenchError
from genbench.metrics.extractors.classifier import WEIGHTS_DIR, ClassifierExtractor
from genbench.metrics.extractors.features import images_sha256
from genbench.metrics.extractors.stats import fd_interval, frechet_distance, gaussian_stats, require_count

# sha256 of the committed weights files, as printed by benchmarks/train_translation_classifiers.py
# (torch 2.11.0, 1 CPU thread; test accuracy in the comment).
TRANSLATION_CLASSIFIER_SHA256: dict[str, str] = {
    "digits2color-a": "ce5af57dc36413db9d658c547e5d087dd4ff00643bc1ca8798858ba2d355bc71",  # 0.9917
    "digits2color-b": "e0d6292e88f683c7b6410917a9263c8f5bef4370645ed62031112a7df94af8ce",  # 0.9556
    "mnist2color-a": "450bc26ce0104169b9ced9b82a8d94479b6c928eaa14bb45e8258651f0979343",  # 0.9924
    "mnist2color-b": "8f9a895be37fa0f08bf9d68437b44753fa15e67d79581c13fd099e942644c9af",  # 0.9900
    # A-vs-B domain classifiers (`--only domain`, torch 2.14.1, 1 CPU thread)
    "digits2color-domain": "33445825e09ecd79bc3d6893cdb2776431e7a6c77f0e508671a5886ff54a2684",  # 1.0000
    "mnist2color-domain": "a8d5fefe62f8f097efbc47a9dee4a4b5a9c1969c95853afb442f4190baaf558e",  # 0.9999
}


DOMAIN_LABEL = {"a": 0, "b": 1}  # the domain classifier's classes


def translation_weights_path(pair: str, domain: str) -> Path:
    """``domain``: "a" or "b" (that domain's label classifier) or "domain" (the A-vs-B classifier)."""
    return WEIGHTS_DIR / f"clf-{pair}-{domain}.pt"


def _dataset_spec(name: str) -> Any:
    from genbench.plugins import get_plugins

    return get_plugins().datasets.get(name)


class _TranslationMetric(Metric):
    """Base: one direction, from the spec's ``options["direction"]``."""

    @property
    def direction(self) -> str:
        return str(self.spec.options["direction"])

    def check(self, data_name: str, shape: tuple[int, int, int]) -> None:
        if len(_dataset_spec(data_name).domains) != 2:
            raise GenbenchError(f"{self.spec.name}: dataset '{data_name}' has one domain; translation needs two")

    def tctx(self, ctx: EvalContext) -> TranslationContext:
        tctx = translation_context(ctx)
        require_count(tctx.count(self.direction), 2, self.spec.name)
        return tctx

    def fingerprint(self, ctx: EvalContext, tctx: TranslationContext, **extra: Any) -> dict[str, Any]:
        x, _ = tctx.test_split(source_domain(self.direction))
        n = tctx.count(self.direction)
        return {
            **self.base_fingerprint(ctx),
            "num_samples": n,
            "direction": self.direction,
            "source": f"{ctx.data.name}/test{source_domain(self.direction).upper()}[:{n}]",
            "source_sha256": images_sha256(x[:n]),
            **extra,
        }


class _TargetClassifierMetric(_TranslationMetric):
    def check(self, data_name: str, shape: tuple[int, int, int]) -> None:
        super().check(data_name, shape)
        key = f"{data_name}-{target_domain(self.direction)}"
        if key not in TRANSLATION_CLASSIFIER_SHA256:
            raise GenbenchError(
                f"{self.spec.name}: no target-domain classifier is shipped for '{data_name}' (there are: "
                f"{', '.join(sorted({k.rsplit('-', 1)[0] for k in TRANSLATION_CLASSIFIER_SHA256})) or 'none'}); "
                "train one with benchmarks/train_translation_classifiers.py"
            )
        self.extractor_for(data_name)  # a missing or altered weights file fails here, before training

    def extractor_for(self, data_name: str) -> ClassifierExtractor:
        domain = target_domain(self.direction)
        key = f"{data_name}-{domain}"
        return ClassifierExtractor(
            key, path=translation_weights_path(data_name, domain), sha256=TRANSLATION_CLASSIFIER_SHA256.get(key)
        )


class TranslationAccuracy(_TargetClassifierMetric):
    """Label preservation: the target-domain classifier's accuracy on translations (higher is better)."""

    version = 1

    def compute(self, ctx: EvalContext) -> MetricValue:
        tctx = self.tctx(ctx)
        extractor = self.extractor_for(ctx.data.name)
        _, labels = tctx.source(self.direction)
        logits = extractor.extract(tctx.translated(self.direction), ctx.device, "translations")["logits"]
        hits = (logits.argmax(dim=1) == labels).double()
        return MetricValue(float(hits.mean()), self.fingerprint(ctx, tctx, **extractor.identity()),
                           interval=mean_interval(hits.numpy()))  # fmt: skip


class TranslationFD(_TargetClassifierMetric):
    """Fréchet distance of translations to real target-domain test images (lower is better)."""

    version = 1

    def compute(self, ctx: EvalContext) -> MetricValue:
        tctx = self.tctx(ctx)
        extractor = self.extractor_for(ctx.data.name)
        fake = extractor.extract(tctx.translated(self.direction), ctx.device, "translations")["features"]
        real_x, _ = tctx.target_reference(self.direction)
        real = extractor.extract(real_x, ctx.device, "target-domain test images")["features"]
        mu, sigma = gaussian_stats(fake)
        mu_r, sigma_r = gaussian_stats(real)
        value = frechet_distance(mu, sigma, mu_r, sigma_r)
        interval = fd_interval(value, fake, real, seed=ctx.seed, device=ctx.device)
        ref, _ = tctx.test_split(target_domain(self.direction))
        reference = {
            "reference": f"{ctx.data.name}/test{target_domain(self.direction).upper()}",
            "reference_count": len(ref),
            "reference_sha256": images_sha256(ref),
        }
        return MetricValue(value, self.fingerprint(ctx, tctx, **extractor.identity(), **reference), interval=interval)


class TranslationDomainAccuracy(_TranslationMetric):
    """Fraction of translations a shipped A-vs-B domain classifier assigns to the target domain (higher is better)."""

    version = 1

    def check(self, data_name: str, shape: tuple[int, int, int]) -> None:
        super().check(data_name, shape)
        if f"{data_name}-domain" not in TRANSLATION_CLASSIFIER_SHA256:
            raise GenbenchError(
                f"{self.spec.name}: no domain classifier is shipped for '{data_name}'; "
                "train one with benchmarks/train_translation_classifiers.py --only domain"
            )
        self.extractor_for(data_name)  # a missing or altered weights file fails here, before training

    def extractor_for(self, data_name: str) -> ClassifierExtractor:
        key = f"{data_name}-domain"
        return ClassifierExtractor(
            key, path=translation_weights_path(data_name, "domain"), sha256=TRANSLATION_CLASSIFIER_SHA256.get(key)
        )

    def compute(self, ctx: EvalContext) -> MetricValue:
        tctx = self.tctx(ctx)
        extractor = self.extractor_for(ctx.data.name)
        logits = extractor.extract(tctx.translated(self.direction), ctx.device, "translations")["logits"]
        target = DOMAIN_LABEL[target_domain(self.direction)]
        hits = int((logits.argmax(dim=1) == target).sum())
        # An interval even at 0 or 1, so that the leaderboard ranks doing nothing (0) below a translator.
        return MetricValue(hits / len(logits), self.fingerprint(ctx, tctx, **extractor.identity()),
                           interval=proportion_interval(hits, len(logits)))  # fmt: skip


class TranslationSuccess(_TargetClassifierMetric):
    """Fraction of translations in the target domain *and* with the source's label (higher is better)."""

    version = 1

    def check(self, data_name: str, shape: tuple[int, int, int]) -> None:
        super().check(data_name, shape)  # the target domain's label classifier
        self._domain.check(data_name, shape)

    @property
    def _domain(self) -> TranslationDomainAccuracy:
        return TranslationDomainAccuracy(self.spec)

    def compute(self, ctx: EvalContext) -> MetricValue:
        tctx = self.tctx(ctx)
        translated = tctx.translated(self.direction)
        _, labels = tctx.source(self.direction)
        label_clf = self.extractor_for(ctx.data.name)
        domain_clf = self._domain.extractor_for(ctx.data.name)
        right_label = label_clf.extract(translated, ctx.device, "translations")["logits"].argmax(dim=1) == labels
        domain = domain_clf.extract(translated, ctx.device, "translations")["logits"].argmax(dim=1)
        hits = int((right_label & (domain == DOMAIN_LABEL[target_domain(self.direction)])).sum())
        identity = {**label_clf.identity(), **{f"domain_{k}": v for k, v in domain_clf.identity().items()}}
        # A Wilson interval, defined at 0 too: doing nothing scores exactly 0 and must rank below a translator.
        return MetricValue(hits / len(translated), self.fingerprint(ctx, tctx, **identity),
                           interval=proportion_interval(hits, len(translated)))  # fmt: skip


class CycleL1(_TranslationMetric):
    """Mean absolute error of the round trip source -> target -> source (lower is better)."""

    version = 1

    def compute(self, ctx: EvalContext) -> MetricValue:
        tctx = self.tctx(ctx)
        x, _ = tctx.source(self.direction)
        per_image = (tctx.cycled(self.direction) - x).abs().double().flatten(1).mean(1)
        return MetricValue(
            float(per_image.mean()), self.fingerprint(ctx, tctx), interval=mean_interval(per_image.numpy())
        )


class GroundTruthL1(_TranslationMetric):
    """Mean absolute error of translations against the known counterparts (lower is better)."""

    version = 1

    def check(self, data_name: str, shape: tuple[int, int, int]) -> None:
        super().check(data_name, shape)
        if not _dataset_spec(data_name).paired_test:
            raise GenbenchError(f"{self.spec.name}: dataset '{data_name}' has no known counterparts of its test images")

    def compute(self, ctx: EvalContext) -> MetricValue:
        tctx = self.tctx(ctx)
        truth = tctx.counterparts(self.direction)
        per_image = (tctx.translated(self.direction) - truth).abs().double().flatten(1).mean(1)
        fingerprint = self.fingerprint(ctx, tctx, paired=True)
        return MetricValue(float(per_image.mean()), fingerprint, interval=mean_interval(per_image.numpy()))
