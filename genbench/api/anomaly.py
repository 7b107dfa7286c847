"""The anomaly-detection protocol: an out-of-distribution test set named by the benchmark.

Fashion-MNIST's benchmark names MNIST and the reverse (Nalisnick et al. 2019, arXiv:1810.09136).
A model scores every image of both test splits, higher meaning "more anomalous": the negative
log-likelihood when it has one, else its reconstruction error; ``ood-auroc`` is the AUROC of
out- versus in-distribution under that score.
"""

from __future__ import annotations

from dataclasses import dataclass

from genbench.api.dataset import ImageData


@dataclass
class AnomalyContext:
    """What anomaly metrics need beyond the EvalContext: the out-of-distribution dataset."""

    ood: ImageData  # its test split is scored; images share the in-distribution shape
