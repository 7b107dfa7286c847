"""Registers genbench's built-in metrics through the public hook (no torch import here)."""

from __future__ import annotations

from genbench import hookimpl
from genbench.specs import MetricSpec

_EXTRACTOR = ("extractor", "weights_sha256", "resize")
_REFERENCE = ("reference", "reference_count", "reference_sha256")
_BASE = ("metric", "version", "num_samples")


@hookimpl
def genbench_register_metrics() -> list[MetricSpec]:
    return [
        MetricSpec(
            "fid",
            "genbench.metrics.inception:FID",
            "min",
            "sample",
            _BASE + _EXTRACTOR + _REFERENCE,
            "Fréchet Inception Distance to the test split (torchmetrics' Inception-v3, bilinear antialiased resize)",
        ),
        MetricSpec(
            "fid-clean",
            "genbench.metrics.inception:FIDClean",
            "min",
            "sample",
            _BASE + _EXTRACTOR + _REFERENCE,
            "FID under clean-fid's 'clean' protocol (PIL bicubic resize to 299)",
        ),
        MetricSpec(
            "kid",
            "genbench.metrics.inception:KID",
            "min",
            "sample",
            _BASE + _EXTRACTOR + _REFERENCE + ("kid_subsets", "kid_subset_size"),
            "Kernel Inception Distance to the test split (polynomial-kernel MMD², 100 subsets)",
        ),
        MetricSpec(
            "is",
            "genbench.metrics.inception:InceptionScore",
            "max",
            "sample",
            _BASE + _EXTRACTOR + ("is_splits",),
            "Inception Score of the samples (10 splits)",
        ),
        MetricSpec(
            "clf-fd",
            "genbench.metrics.classifier_metrics:ClassifierFD",
            "min",
            "sample",
            _BASE + _EXTRACTOR + _REFERENCE,
            "Fréchet distance of genbench's offline classifier features to the test split (not FID)",
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
        MetricSpec(
            "nll",
            "genbench.metrics.nll:NLL",
            "min",
            "log_likelihood",
            _BASE + ("reference", "reference_count", "dequantization"),
            "negative log-likelihood of test images, 8-bit with uniform dequantisation",
            unit="bits/dim",
        ),
        MetricSpec(
            "accuracy",
            "genbench.metrics.accuracy:Accuracy",
            "max",
            "classify",
            _BASE + ("reference", "reference_count"),
            "top-1 accuracy on the test split",
        ),
        MetricSpec(
            "probe-acc",
            "genbench.metrics.probe:LinearProbe",
            "max",
            "encode",
            ("metric", "version", "labels", "label_seed", "labelled_sha256", "reference", "probe"),
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
        MetricSpec(
            "ood-auroc",
            "genbench.metrics.ood:OODAUROC",
            "max",
            "log_likelihood|reconstruct",
            ("metric", "version", "in", "out", "count"),
            "AUROC of the benchmark's out-of-distribution test set vs its own, scored by NLL or reconstruction error",
        ),
    ]
