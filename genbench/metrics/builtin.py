"""Registers genbench's built-in metrics through the public hook (no torch import here)."""

from __future__ import annotations

from genbench import hookimpl
from genbench.specs import MetricSpec

_EXTRACTOR = ("extractor", "weights_sha256", "resize")
_REFERENCE = ("reference", "reference_count", "reference_sha256")
_BASE = ("metric", "version", "num_samples")
_PRDC_WHAT = {
    "precision": "fraction of samples inside the real data's k-NN balls (fidelity; Kynkäänniemi et al. 2019)",
    "recall": "fraction of real images inside the samples' k-NN balls (diversity; Kynkäänniemi et al. 2019)",
    "density": "real k-NN balls holding a sample, per sample, / k (fidelity; Naeem et al. 2020)",
    "coverage": "fraction of real k-NN balls holding a sample (diversity; Naeem et al. 2020)",
}


@hookimpl
def genbench_register_metrics() -> list[MetricSpec]:
    """The built-in metrics grouped by the protocol they consume, in the order listings and leaderboards show them."""
    return [
        *_inception_metrics(),  # sampling: Inception features of samples
        *_classifier_metrics(),  # sampling: the offline classifier on (class-conditional) samples
        *_prdc_metrics(),  # sampling: k-NN precision/recall/density/coverage
        *_likelihood_metrics(),
        *_classification_metrics(),
        *_representation_metrics(),
        *_anomaly_metrics(),
        *_translation_metrics(),
        *_restoration_metrics(),
    ]


def _inception_metrics() -> list[MetricSpec]:
    """``sample`` metrics on Inception features (genbench/metrics/inception.py)."""
    return [
        MetricSpec(
            "fid",
            "genbench.metrics.inception:FID",
            "min",
            "sample",
            _BASE + _EXTRACTOR + _REFERENCE,
            "Fréchet Inception Distance to the reference images (TF Inception-v3, TF1 bilinear resize, as papers)",
        ),
        MetricSpec(
            "fid-inf",
            "genbench.metrics.inception:FIDInf",
            "min",
            "sample",
            _BASE + _EXTRACTOR + _REFERENCE + ("fd_inf_sizes",),
            "FID extrapolated to infinitely many samples: intercept of FID against 1/N over subsets "
            "(Chong & Forsyth 2020), independent of the sample count",
        ),
        MetricSpec(
            "fid-clean",
            "genbench.metrics.inception:FIDClean",
            "min",
            "sample",
            _BASE + _EXTRACTOR + _REFERENCE,
            "FID under clean-fid's 'clean' protocol (PIL bicubic resize to 299) on torch-fidelity's Inception "
            "weights, not clean-fid's own TorchScript network",
        ),
        MetricSpec(
            "kid",
            "genbench.metrics.inception:KID",
            "min",
            "sample",
            _BASE + _EXTRACTOR + _REFERENCE + ("kid_subsets", "kid_subset_size"),
            "Kernel Inception Distance to the reference images (polynomial-kernel MMD², 100 subsets)",
        ),
        MetricSpec(
            "is",
            "genbench.metrics.inception:InceptionScore",
            "max",
            "sample",
            _BASE + _EXTRACTOR + ("is_splits",),
            "Inception Score of the samples (10 splits)",
        ),
    ]


def _classifier_metrics() -> list[MetricSpec]:
    """``sample`` and ``conditional`` metrics on the offline classifier (genbench/metrics/classifier_metrics.py)."""
    return [
        MetricSpec(
            "clf-fd",
            "genbench.metrics.classifier_metrics:ClassifierFD",
            "min",
            "sample",
            _BASE + _EXTRACTOR + _REFERENCE,
            "Fréchet distance of genbench's offline classifier features to the reference images (not FID)",
        ),
        MetricSpec(
            "clf-fd-inf",
            "genbench.metrics.classifier_metrics:ClassifierFDInf",
            "min",
            "sample",
            _BASE + _EXTRACTOR + _REFERENCE + ("fd_inf_sizes",),
            "clf-fd extrapolated to infinitely many samples: intercept of clf-fd against 1/N over subsets "
            "(Chong & Forsyth 2020's FD-infinity on the offline classifier)",
        ),
        MetricSpec(
            "clf-score",
            "genbench.metrics.classifier_metrics:ClassifierScore",
            "max",
            "sample",
            _BASE + _EXTRACTOR,
            "classifier score exp E KL(p(y|x)||p(y)) on genbench's offline classifier (IS analogue, not IS)",
        ),
        MetricSpec(
            "cond-acc",
            "genbench.metrics.classifier_metrics:ConditionalAccuracy",
            "max",
            "conditional",
            _BASE + _EXTRACTOR,
            "fraction of class-conditional samples the offline classifier assigns to their label",
        ),
    ]


def _prdc_metrics() -> list[MetricSpec]:
    """``sample`` k-NN metrics (genbench/metrics/prdc.py): each quantity on classifier, then Inception, features."""
    return [
        MetricSpec(
            f"{prefix}-{quantity}",
            f"genbench.metrics.prdc:{cls}",
            "max",
            "sample",
            _BASE + _EXTRACTOR + _REFERENCE + ("prdc_k",),
            f"{what}, on {features}",
            options={"quantity": quantity},
        )
        for prefix, cls, features in (
            ("clf", "ClassifierPRDC", "genbench's offline classifier features, k = 5"),
            ("inception", "InceptionPRDC", "Inception pool features, k = 5"),
        )
        for quantity, what in _PRDC_WHAT.items()
    ]


def _likelihood_metrics() -> list[MetricSpec]:
    """``log_likelihood`` metrics (genbench/metrics/nll.py)."""
    return [
        MetricSpec(
            "nll",
            "genbench.metrics.nll:NLL",
            "min",
            "log_likelihood",
            _BASE + ("reference", "reference_count", "dequantization"),
            "negative log-likelihood of test images (the benchmark's count; standard: all), 8-bit",
            unit="bits/dim",
        ),
    ]


def _classification_metrics() -> list[MetricSpec]:
    """``classify`` metrics (genbench/metrics/accuracy.py)."""
    return [
        MetricSpec(
            "accuracy",
            "genbench.metrics.accuracy:Accuracy",
            "max",
            "classify",
            _BASE + ("reference", "reference_count"),
            "top-1 accuracy on the test split",
        ),
    ]


def _representation_metrics() -> list[MetricSpec]:
    """``encode`` and ``reconstruct`` metrics (genbench/metrics/probe.py, reconstruction.py)."""
    return [
        MetricSpec(
            "probe-acc",
            "genbench.metrics.probe:LinearProbe",
            "max",
            "encode",
            (
                "metric",
                "version",
                "labels",
                "label_seed",
                "labelled_sha256",
                "reference",
                "reference_count",
                "probe_images",
                "probe",
            ),  # fmt: skip
            "test accuracy of a logistic-regression probe on frozen encode() features of the labelled subset",
        ),
        MetricSpec(
            "recon-mse",
            "genbench.metrics.reconstruction:ReconstructionMSE",
            "min",
            "reconstruct",
            ("metric", "version", "reference", "reference_count"),
            "mean per-image squared reconstruction error of the test split, pixels in [0, 1]",
        ),
        MetricSpec(
            "psnr",
            "genbench.metrics.reconstruction:PSNR",
            "max",
            "reconstruct",
            ("metric", "version", "reference", "reference_count"),
            "mean per-image PSNR of reconstructions of the test split",
            unit="dB",
        ),
    ]


def _anomaly_metrics() -> list[MetricSpec]:
    """Out-of-distribution metrics scored by ``log_likelihood`` or ``reconstruct`` (genbench/metrics/ood.py)."""
    return [
        MetricSpec(
            "ood-auroc",
            "genbench.metrics.ood:OODAUROC",
            "max",
            "log_likelihood|reconstruct",
            ("metric", "version", "in", "out", "count"),
            "AUROC of the benchmark's out-of-distribution test set vs its own, scored by NLL or reconstruction error",
        ),
    ]


def _translation_metrics() -> list[MetricSpec]:
    """``translate`` metrics (genbench/metrics/translation.py), one spec per direction."""
    base = _BASE + ("direction", "source", "source_sha256")
    specs = []
    for d in ("a2b", "b2a"):
        src, tgt = d[0].upper(), d[-1].upper()
        target = "genbench.metrics.translation:"
        opt = {"direction": d}
        specs += [
            MetricSpec(
                f"translate-acc-{d}", target + "TranslationAccuracy", "max", "translate", base + _EXTRACTOR,
                f"label preservation {src}->{tgt}: accuracy of a domain-{tgt} classifier on translated test images",
                options=opt,
            ),
            MetricSpec(
                f"translate-fd-{d}", target + "TranslationFD", "min", "translate", base + _EXTRACTOR + _REFERENCE,
                f"Fréchet distance of {src}->{tgt} translations to real domain-{tgt} test images in a domain-{tgt} "
                "classifier's features (not FID)",
                options=opt,
            ),
            MetricSpec(
                f"translate-domain-acc-{d}", target + "TranslationDomainAccuracy", "max", "translate",
                base + _EXTRACTOR,
                f"realism {src}->{tgt}: fraction of translated test images an A-vs-B domain classifier calls "
                f"domain {tgt} (doing nothing scores about 0)",
                options=opt,
            ),
            MetricSpec(
                f"translate-success-{d}", target + "TranslationSuccess", "max", "translate",
                base + _EXTRACTOR + tuple(f"domain_{k}" for k in _EXTRACTOR),
                f"success {src}->{tgt}: fraction of translated test images the domain classifier calls {tgt} "
                f"and a domain-{tgt} classifier gives the source's label (doing nothing scores 0)",
                options=opt,
            ),
            MetricSpec(
                f"cycle-l1-{d}", target + "CycleL1", "min", "translate", base,
                f"cycle error {src}->{tgt}->{src}: mean |round trip - input| per pixel, images in [0, 1]",
                options=opt,
            ),
            MetricSpec(
                f"gt-l1-{d}", target + "GroundTruthL1", "min", "translate", base + ("paired",),
                f"ground-truth error {src}->{tgt}: mean |translation - known counterpart| per pixel, in [0, 1]",
                options=opt,
            ),
        ]  # fmt: skip
    return specs


def _restoration_metrics() -> list[MetricSpec]:
    """``restore`` metrics on a reconstruction benchmark's measurements (genbench/metrics/restoration.py)."""
    base = ("metric", "version", "reference", "operator", "measurement_seed", "test_images", "posterior_samples")
    target = "genbench.metrics.restoration:"
    return [
        MetricSpec("restore-psnr", target + "RestorePSNR", "max", "restore", base + ("estimate",),
                   "PSNR of the posterior mean (mean of the K samples) vs the clean test image", unit="dB"),
        MetricSpec("restore-ssim", target + "RestoreSSIM", "max", "restore", base + ("estimate", "window"),
                   "SSIM (Wang et al. 2004, Gaussian window) of the posterior mean vs the clean test image"),
        MetricSpec("restore-coverage90", target + "Coverage90", "max", "restore", base + ("interval",),
                   "fraction of true pixels inside the samples' central 90% interval; ideal 0.90, above it the "
                   "intervals are too wide (restore-coverage-gap ranks both ways)"),
        MetricSpec("restore-coverage-gap", target + "CoverageGap", "min", "restore", base + ("interval",),
                   "mean per-image |coverage of the central 90% interval - 0.90|: calibration, 0 is ideal"),
        MetricSpec("restore-std-corr", target + "StdErrorCorrelation", "max", "restore", base,
                   "per-image correlation of the posterior std with the posterior mean's absolute error"),
        MetricSpec("restore-diversity", target + "Diversity", "max", "restore", base,
                   "mean per-pixel standard deviation across the K posterior samples"),
        MetricSpec("restore-consistency", target + "Consistency", "min", "restore", base,
                   "|RMS of the re-degraded samples minus the measurement - sigma|: 0 fits y as the truth does"),
    ]  # fmt: skip
