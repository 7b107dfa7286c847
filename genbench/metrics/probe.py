"""``probe-acc``: linear-probe accuracy of a model's ``encode`` features at a label budget.

The encoder is frozen; a multinomial logistic regression (scikit-learn's L-BFGS, features
standardised on the labelled subset, C = 1) is fitted to the features of the benchmark's
labelled subset and scored on the whole test split. Every model with ``encode`` gets the same
probe, so representations from different families rank on one table.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from genbench.api.dataset import ImageData
from genbench.api.metric import EvalContext, Metric, MetricValue, report_progress
from genbench.api.model import GenerativeModel
from genbench.api.protocols import cached, representation_of
from genbench.api.representation import labelled_subset
from genbench.api.uncertainty import mean_interval
from genbench.errors import GenbenchError

PROBE = {"probe": "multinomial-logreg-lbfgs", "probe_C": 1.0, "probe_max_iter": 1000, "standardised": True}


@torch.no_grad()
def encode_images(
    model: GenerativeModel, x: torch.Tensor, device: torch.device, batch_size: int, what: str = ""
) -> torch.Tensor:
    """``model.encode`` of uint8 images ``x`` in batches: (N, D) float32 on the CPU.

    ``what`` names the images in progress reports (images done of all), when given."""
    model.eval()
    chunks = []
    if what:
        report_progress(f"probe-acc: features of {what}", 0, len(x))
    for i in range(0, len(x), batch_size):
        batch = ImageData.to_float(x[i : i + batch_size]).to(device)
        z = model.encode(batch)
        if z.dim() != 2 or z.shape[0] != len(batch):
            raise GenbenchError(
                f"probe-acc: {type(model).__name__}.encode must return (B, D) features, got {tuple(z.shape)}"
            )
        if not torch.isfinite(z).all():
            raise GenbenchError(f"probe-acc: {type(model).__name__}.encode returned NaN or inf")
        chunks.append(z.float().cpu())
        if what:
            report_progress(f"probe-acc: features of {what}", min(i + batch_size, len(x)), len(x))
    return torch.cat(chunks)


def linear_probe(
    train_features: torch.Tensor, train_labels: torch.Tensor, test_features: torch.Tensor, test_labels: torch.Tensor
) -> float:
    """Test accuracy of a multinomial logistic regression fitted on the training features."""
    return float(probe_hits(train_features, train_labels, test_features, test_labels).mean())


def probe_hits(
    train_features: torch.Tensor, train_labels: torch.Tensor, test_features: torch.Tensor, test_labels: torch.Tensor
) -> np.ndarray:
    """Per test image, 1.0 if the probe fitted on the training features classifies it right, else 0.0."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x_train = train_features.numpy().astype(np.float64)
    x_test = test_features.numpy().astype(np.float64)
    scaler = StandardScaler().fit(x_train)
    clf = LogisticRegression(C=PROBE["probe_C"], max_iter=PROBE["probe_max_iter"])
    with warnings.catch_warnings():
        # Hitting max_iter is part of the fixed protocol (recorded in the fingerprint), not an error.
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(scaler.transform(x_train), train_labels.numpy())
    predicted = clf.predict(scaler.transform(x_test))
    return (predicted == test_labels.numpy()).astype(np.float64)


class LinearProbe(Metric):
    """Accuracy of a linear probe on frozen features (higher is better)."""

    version = 1
    reads = frozenset({"labels", "batch_size", "seed"})  # the label budget picks the labelled subset

    def compute(self, ctx: EvalContext) -> MetricValue:
        rep = representation_of(ctx, "probe-acc")
        x_lab, y_lab = rep.labelled_images(ctx.data)
        x_test, y_test = ctx.data.split("test")
        scaled: dict[str, Any] = {}
        if ctx.probe_count:  # the smoke budget's probe: a class-balanced part of each set
            classes = ctx.data.num_classes
            if len(x_lab) > ctx.probe_count:
                part = labelled_subset(y_lab, str(ctx.probe_count // classes * classes), rep.labelled.seed, classes)
                x_lab, y_lab = x_lab[part.indices], y_lab[part.indices]
            x_test, y_test = x_test[: ctx.probe_count], y_test[: ctx.probe_count]
            scaled = {"probe_images": ctx.probe_count, "probe_labelled_count": len(x_lab)}
        name = ctx.data.name
        f_lab = encode_images(ctx.model, x_lab, ctx.device, ctx.batch_size, f"{len(x_lab):,} labelled {name} images")
        f_test = cached(
            ctx,
            f"encode:test:{len(x_test)}",
            lambda: encode_images(ctx.model, x_test, ctx.device, ctx.batch_size, f"{name}/test"),
        )
        # The fit has no progress of its own: its start and end are said, with its size.
        task = f"probe-acc: fitting the linear probe on {len(f_lab):,} x {f_lab.shape[1]:,} features"
        report_progress(task, 0, 1)
        hits = probe_hits(f_lab, y_lab, f_test, y_test)
        # The interval is over test images with the probe held fixed: the label subset is part of the protocol.
        accuracy, interval = float(hits.mean()), mean_interval(hits)
        report_progress(task, 1, 1)
        fingerprint: dict[str, Any] = {
            "metric": self.spec.name,
            "version": self.version,
            **rep.labelled.fingerprint(),
            "reference": f"{ctx.data.name}/test",
            "reference_count": len(x_test),
            **scaled,
            **PROBE,
        }
        return MetricValue(accuracy, fingerprint, settings={"labels": rep.labelled.budget}, interval=interval)
