"""Benchmark declarations: versioned YAML files validated into :class:`Benchmark`."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from genbench.errors import GenbenchError, did_you_mean

BUDGETS = ("smoke", "quick", "standard")


@dataclass(frozen=True)
class Benchmark:
    """A standard protocol: dataset, training budgets in images seen, and evaluation."""

    name: str
    version: int
    dataset: str
    budgets: dict[str, int]  # budget name -> images seen in training
    num_samples: dict[str, int]  # budget name -> samples generated for evaluation
    metrics: tuple[str, ...]  # required: a model that cannot give them is refused up front
    optional_metrics: tuple[str, ...] = ()  # computed when the model has the capability
    description: str = ""
    path: str = ""
    # The real images sample metrics (FID, clf-fd, precision...) compare with: a split and the
    # first `reference_count` of its images (0 = all). YAML: eval.reference: {split: train, count: 50000}.
    reference_split: str = "test"
    reference_count: int = 0
    # budget name -> test images a likelihood is computed on; a budget not listed uses the whole
    # test set. YAML: eval.test_images: {smoke: 500, quick: 2000}.
    test_images: dict[str, int] = field(default_factory=dict)

    def images(self, budget: str) -> int:
        if budget not in self.budgets:
            raise GenbenchError(
                f"unknown budget '{budget}'{did_you_mean(budget, self.budgets)} for benchmark '{self.name}'"
            )
        return self.budgets[budget]


def load_benchmark(path: Path) -> Benchmark:
    """Read and validate one YAML declaration."""
    try:
        raw: dict[str, Any] = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise GenbenchError(f"cannot read benchmark file {path}: {exc}") from None
    if not isinstance(raw, dict):
        raise GenbenchError(f"benchmark file {path} must hold a mapping")
    raw = dict(raw)
    eval_cfg = raw.pop("eval", {}) or {}
    known = {f.name for f in fields(Benchmark)} - {"num_samples", "metrics", "optional_metrics", "path"}
    known -= {"reference_split", "reference_count", "test_images"}  # these live under eval:
    unknown = set(raw) - known
    if unknown:
        raise GenbenchError(f"benchmark file {path}: unknown keys {sorted(unknown)}")
    try:
        bench = Benchmark(
            name=str(raw["name"]),
            version=int(raw["version"]),
            dataset=str(raw["dataset"]),
            budgets={str(k): int(v) for k, v in raw["budgets"].items()},
            num_samples={str(k): int(v) for k, v in eval_cfg["num_samples"].items()},
            metrics=tuple(eval_cfg.get("metrics", ())),
            optional_metrics=tuple(eval_cfg.get("optional", ())),
            description=str(raw.get("description", "")),
            path=str(path),
            reference_split=str((eval_cfg.get("reference") or {}).get("split", "test")),
            reference_count=int((eval_cfg.get("reference") or {}).get("count", 0)),
            test_images={str(k): int(v) for k, v in (eval_cfg.get("test_images") or {}).items()},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise GenbenchError(f"benchmark file {path} is malformed: {type(exc).__name__} {exc}") from None
    for key in (*bench.budgets, *bench.num_samples):
        if key not in BUDGETS:
            raise GenbenchError(f"benchmark file {path}: budget '{key}' is not one of {BUDGETS}")
    if bench.reference_split not in ("train", "test"):
        raise GenbenchError(f"benchmark file {path}: eval.reference.split must be train or test")
    for key in bench.test_images:
        if key not in bench.budgets:
            raise GenbenchError(f"benchmark file {path}: eval.test_images names budget '{key}', not in budgets")
    if set(bench.budgets) != set(bench.num_samples):
        raise GenbenchError(f"benchmark file {path}: eval.num_samples must give a count for every budget")
    return bench
