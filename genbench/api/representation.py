"""The representation protocol: a benchmark's labelled subset and the features metrics probe.

A benchmark declares label budgets (``eval.labels: [all, 100, 1000]``); a run picks one with
``--set eval.labels=100``. The labelled subset is class-balanced and drawn from the training
labels alone with the benchmark's ``label_seed``, so it is the same for every model given the
seed; its hash goes into every fingerprint that depends on it. Linear probes fit on the subset's
features, and models that learn a classifier (``uses_labelled_subset``) see only that subset's labels.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import torch

from genbench.api.dataset import ImageData
from genbench.errors import GenbenchError


@dataclass(frozen=True)
class LabelledSubset:
    """Indices of the training images whose labels may be used, and where they came from."""

    budget: str  # "all" or a count, as the benchmark declares it
    seed: int
    indices: torch.Tensor  # (n,) int64, sorted, into the training split

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.indices.numpy().tobytes()).hexdigest()[:16]

    def fingerprint(self) -> dict[str, Any]:
        return {"labels": self.budget, "label_seed": self.seed, "labelled_count": len(self.indices),
                "labelled_sha256": self.sha256}  # fmt: skip


def labelled_subset(labels: torch.Tensor, budget: str, seed: int, num_classes: int) -> LabelledSubset:
    """The class-balanced subset of ``budget`` training labels drawn with ``seed``.

    ``budget`` "all" keeps every image. A count n takes n / num_classes images of each class:
    one generator seeded with ``seed`` permutes each class's indices in class order, and the first
    n / num_classes are kept. Only the labels and the seed decide the subset, never the model.
    """
    if budget == "all":
        return LabelledSubset(budget, seed, torch.arange(len(labels)))
    count = int(budget)
    if count % num_classes:
        raise GenbenchError(
            f"eval.labels={budget}: a class-balanced subset needs a multiple of the {num_classes} classes"
        )
    per_class = count // num_classes
    gen = torch.Generator().manual_seed(seed)
    chosen = []
    for c in range(num_classes):
        members = (labels == c).nonzero().flatten()
        if len(members) < per_class:
            raise GenbenchError(
                f"eval.labels={budget}: class {c} has {len(members)} training images, fewer than {per_class}"
            )
        chosen.append(members[torch.randperm(len(members), generator=gen)[:per_class]])
    return LabelledSubset(budget, seed, torch.cat(chosen).sort().values)


@dataclass
class RepresentationContext:
    """What representation metrics need beyond the EvalContext: the labelled subset."""

    labelled: LabelledSubset

    def labelled_images(self, data: ImageData) -> tuple[torch.Tensor, torch.Tensor]:
        """The labelled training images (uint8) and their labels."""
        return data.train_x[self.labelled.indices], data.train_y[self.labelled.indices]
