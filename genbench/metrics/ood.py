"""``ood-auroc``: anomaly detection of the benchmark's out-of-distribution test set.

The model scores the first min(num_samples, test size) test images of the benchmark's dataset
(in) and of its out-of-distribution set (out), higher meaning more anomalous: the negative
log-likelihood for a model with ``log_likelihood`` (scored without labels), else the per-image
reconstruction MSE. The value is the AUROC of out versus in (with DeLong's 95% interval,
genbench.api.uncertainty): 1 separates them perfectly, 0.5 is
chance, and below 0.5 the model finds the foreign images *more* typical, as Nalisnick et al.
2019 (arXiv:1810.09136) found for likelihood models trained on Fashion-MNIST and tested on MNIST.
"""

from __future__ import annotations

import torch
from scipy.stats import rankdata

from genbench.api.dataset import ImageData
from genbench.api.metric import EvalContext, Metric, MetricValue
from genbench.api.protocols import anomaly_of
from genbench.api.uncertainty import delong_interval
from genbench.errors import GenbenchError
from genbench.metrics.nll import test_log_likelihoods
from genbench.metrics.reconstruction import reconstruction_errors, split_errors


def auroc(inlier_scores: torch.Tensor, outlier_scores: torch.Tensor) -> float:
    """P(score of an outlier > score of an inlier), ties counted one half (Mann-Whitney U)."""
    n_in, n_out = len(inlier_scores), len(outlier_scores)
    if not n_in or not n_out:
        raise GenbenchError("ood-auroc: needs at least one in- and one out-of-distribution image")
    ranks = rankdata(torch.cat([inlier_scores, outlier_scores]).double().numpy())  # ties get the mean rank
    u = ranks[n_in:].sum() - n_out * (n_out + 1) / 2
    return float(u / (n_in * n_out))


@torch.no_grad()
def negative_log_likelihoods(ctx: EvalContext, x: torch.Tensor, task: str = "likelihoods") -> torch.Tensor:
    """-log P(x) in nats of uint8 images ``x`` under the model: (N,) float64; progress under ``task``."""
    model = ctx.model
    model.eval()
    out = []
    ctx.report(task, 0, len(x))  # an importance-weighted bound takes about a second per image on a CPU
    for i in range(0, len(x), ctx.batch_size):
        batch = ImageData.to_float(x[i : i + ctx.batch_size]).to(ctx.device)
        log_p = model.log_likelihood(batch).double().cpu()
        if log_p.shape != (len(batch),) or not torch.isfinite(log_p).all():
            raise GenbenchError(f"ood-auroc: {type(model).__name__}.log_likelihood must return finite (B,) values")
        out.append(-log_p)
        ctx.report(task, i + len(batch), len(x))
    return torch.cat(out)


class OODAUROC(Metric):
    """AUROC of out- versus in-distribution test images under the model's anomaly score."""

    version = 1
    needs_ood = True
    reads = frozenset({"num_samples", "batch_size", "seed"})  # num_samples caps the count

    def compute(self, ctx: EvalContext) -> MetricValue:
        ood = anomaly_of(ctx, "ood-auroc").ood
        x_in, x_out = ctx.data.split("test")[0], ood.split("test")[0]
        # The benchmark's likelihood test count caps it too (smoke: 100), as it caps the NLL.
        n = min(ctx.num_samples, ctx.test_count or len(x_in), len(x_in), len(x_out))
        if "log_likelihood" in ctx.model.capabilities:
            score = "nll"
            torch.manual_seed(ctx.seed)  # stochastic bounds (IWAE) draw from the global generator
            # The in-distribution pass is nll's when the counts match (same images, same noise): made once.
            s_in = -test_log_likelihoods(ctx, n, "ood-auroc", f"ood-auroc: {ctx.data.name} test images")
            s_out = negative_log_likelihoods(ctx, x_out[:n], f"ood-auroc: {ood.name} test images")
        else:
            score = "reconstruction-mse"
            s_in = split_errors(ctx)[:n]
            s_out = reconstruction_errors(ctx, x_out[:n], f"ood-auroc: {ood.name} test images")
        fingerprint = {
            "metric": self.spec.name,
            "version": self.version,
            "in": f"{ctx.data.name}/test",
            "out": f"{ood.name}/test",
            "count": n,
        }
        value = auroc(s_in, s_out)
        _, interval = delong_interval(s_in.numpy(), s_out.numpy())
        return MetricValue(value, fingerprint, settings={"ood_score": score}, interval=interval)
