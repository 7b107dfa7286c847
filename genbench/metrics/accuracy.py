"""Top-1 accuracy of a model that classifies, on the whole test split."""

from __future__ import annotations

import torch

from genbench.api.metric import EvalContext, Metric, MetricValue
from genbench.api.protocols import representation_of
from genbench.api.uncertainty import mean_interval
from genbench.errors import GenbenchError


class Accuracy(Metric):
    """Fraction of test images whose arg-max logit is their label (higher is better)."""

    version = 1

    def compute(self, ctx: EvalContext) -> MetricValue:
        x_all, y_all = ctx.data.split("test")
        model = ctx.model
        model.eval()
        hits: list[torch.Tensor] = []  # per test image: 1 if right
        with torch.no_grad():
            for i in range(0, len(x_all), ctx.batch_size):
                x = ctx.data.to_float(x_all[i : i + ctx.batch_size]).to(ctx.device)
                logits = model.classify(x)
                expected = (len(x), ctx.data.num_classes)
                if tuple(logits.shape) != expected:
                    raise GenbenchError(
                        f"accuracy: {type(model).__name__}.classify must return logits of shape {expected}, "
                        f"got {tuple(logits.shape)}"
                    )
                if not torch.isfinite(logits).all():
                    raise GenbenchError(f"accuracy: {type(model).__name__}.classify returned NaN or inf")
                hits.append((logits.argmax(dim=1).cpu() == y_all[i : i + ctx.batch_size]).double())
        right = torch.cat(hits)
        value, interval = float(right.mean()), mean_interval(right.numpy())
        fingerprint = {
            **self.base_fingerprint(ctx),
            "reference": f"{ctx.data.name}/test",
            "reference_count": len(x_all),
        }
        if model.uses_labelled_subset:  # a semi-supervised classifier ranks per label budget
            labelled = representation_of(ctx, "accuracy").labelled
            fingerprint.update(labelled.fingerprint())
            return MetricValue(value, fingerprint, settings={"labels": labelled.budget}, interval=interval)
        return MetricValue(value, fingerprint, interval=interval)
