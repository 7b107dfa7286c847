"""Benchmark declarations: versioned YAML files validated into :class:`Benchmark`."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from genbench.errors import GenbenchError, did_you_mean
from genbench.validate import check_name, load_yaml

BUDGETS = ("smoke", "quick", "standard")
# What a benchmark can rank models on, each by one headline metric (YAML: eval.headline), in the
# order the terminal leaderboard shows them. A model appears in a task's ranking only when it has
# the capability the headline metric needs: a classifier never heads a sample-quality ranking.
TASKS = ("samples", "likelihood", "representation", "classification", "anomaly", "translation")


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
    # budget name -> at most this many labelled (class-balanced) and test images for the linear
    # probe, so a smoke run answers "does it work?" in a minute; the counts go in the fingerprint.
    # A budget not listed uses them all. YAML: eval.probe_images: {smoke: 1000}.
    probe_images: dict[str, int] = field(default_factory=dict)
    # budget name -> the first this many test images recon-mse and psnr reconstruct (the count is
    # their fingerprint's reference_count); a budget not listed uses them all. YAML: eval.recon_images.
    recon_images: dict[str, int] = field(default_factory=dict)
    # Labelled-subset sizes a run may pick with `--set eval.labels=N` ("all" or a count that is a
    # multiple of the number of classes); the first is the default. Subsets are class-balanced
    # and drawn with ``label_seed`` (genbench.api.representation.labelled_subset).
    label_budgets: tuple[str, ...] = ("all",)
    label_seed: int = 0
    ood: str | None = None  # dataset whose test split is out-of-distribution for `ood-auroc`
    # task -> its headline metric: a metric name (its first column) or a column such as
    # "probe-acc (labels=100)". YAML: eval.headline: {samples: clf-fd, likelihood: nll}.
    headline: dict[str, str] = field(default_factory=dict)
    # Reconstruction benchmarks: the operator that degrades each test image into its measurement,
    # e.g. {"op": "noise", "sigma": 0.3, "seed": 0} (genbench.api.restoration.Degradation), and the
    # posterior samples drawn per measurement. YAML: eval.degradation, eval.restore_samples.
    degradation: dict[str, Any] | None = None
    restore_samples: int = 16

    def images(self, budget: str) -> int:
        if budget not in self.budgets:
            raise GenbenchError(
                f"unknown budget '{budget}'{did_you_mean(budget, self.budgets)} for benchmark '{self.name}'"
            )
        return self.budgets[budget]

    def labels(self, requested: str = "") -> str:
        """The label budget a run uses: ``requested`` (from ``--set eval.labels``) or the first declared."""
        if not requested:
            return self.label_budgets[0]
        if requested not in self.label_budgets:
            raise GenbenchError(
                f"eval.labels={requested}: benchmark '{self.name}' declares label budgets "
                f"{', '.join(self.label_budgets)}; pick one of them"
            )
        return requested


def load_benchmark(path: Path) -> Benchmark:
    """Read and validate one YAML declaration."""
    raw: dict[str, Any] = load_yaml(path, "benchmark file")
    if not isinstance(raw, dict):
        raise GenbenchError(f"benchmark file {path} must hold a mapping")
    raw = dict(raw)
    eval_cfg = raw.pop("eval", {}) or {}
    known = {f.name for f in fields(Benchmark)} - {"num_samples", "metrics", "optional_metrics", "path"}
    # these live under eval:
    known -= {
        "reference_split",
        "reference_count",
        "test_images",
        "probe_images",
        "recon_images",
        "label_budgets",
        "label_seed",
        "ood",
        "headline",
    }
    known -= {"degradation", "restore_samples"}
    unknown = set(raw) - known
    if unknown:
        raise GenbenchError(f"benchmark file {path}: unknown keys {sorted(unknown)}")
    try:
        bench = Benchmark(
            name=check_name(raw["name"], f"benchmark file {path}: name"),
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
            probe_images={str(k): int(v) for k, v in (eval_cfg.get("probe_images") or {}).items()},
            recon_images={str(k): int(v) for k, v in (eval_cfg.get("recon_images") or {}).items()},
            label_budgets=tuple(str(v) for v in eval_cfg.get("labels", ("all",))),
            label_seed=int(eval_cfg.get("label_seed", 0)),
            ood=str(eval_cfg["ood"]) if eval_cfg.get("ood") else None,
            headline={str(k): str(v) for k, v in (eval_cfg.get("headline") or {}).items()},
            degradation=check_degradation(eval_cfg["degradation"], path) if eval_cfg.get("degradation") else None,
            restore_samples=int(eval_cfg.get("restore_samples", 16)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise GenbenchError(f"benchmark file {path} is malformed: {type(exc).__name__} {exc}") from None
    for key in (*bench.budgets, *bench.num_samples):
        if key not in BUDGETS:
            raise GenbenchError(f"benchmark file {path}: budget '{key}' is not one of {BUDGETS}")
    if bench.reference_split not in ("train", "test"):
        raise GenbenchError(f"benchmark file {path}: eval.reference.split must be train or test")
    for what in ("test_images", "probe_images", "recon_images"):
        for key, count in getattr(bench, what).items():
            if key not in bench.budgets:
                raise GenbenchError(f"benchmark file {path}: eval.{what} names budget '{key}', not in budgets")
            if count < 1:
                raise GenbenchError(f"benchmark file {path}: eval.{what}.{key} must be a positive count")
    for labels in bench.label_budgets:
        if labels != "all" and not (labels.isdigit() and int(labels) > 0):
            raise GenbenchError(
                f"benchmark file {path}: eval.labels entry '{labels}' must be 'all' or a positive count"
            )
    for task, metric in bench.headline.items():
        if task not in TASKS:
            raise GenbenchError(
                f"benchmark file {path}: eval.headline names task '{task}'{did_you_mean(task, TASKS)}; "
                f"tasks are {', '.join(TASKS)}"
            )
        if metric.split(" (")[0] not in (*bench.metrics, *bench.optional_metrics):
            raise GenbenchError(
                f"benchmark file {path}: eval.headline.{task} is '{metric}', not one of the benchmark's metrics"
            )
    if not 2 <= bench.restore_samples <= 1000:
        raise GenbenchError(
            f"benchmark file {path}: eval.restore_samples must lie in 2..1000 (a spread needs two samples)"
        )
    if set(bench.budgets) != set(bench.num_samples):
        raise GenbenchError(f"benchmark file {path}: eval.num_samples must give a count for every budget")
    return bench


# Degradation operators a benchmark may declare, and each one's parameters with their valid range.
OPERATORS: dict[str, dict[str, tuple[float, float]]] = {
    "noise": {"sigma": (0.0, 10.0)},  # y = x + sigma * N(0, I), pixels on the [0, 1] scale
    "inpaint": {"rate": (0.0, 1.0)},  # each pixel missing with probability `rate`
    "box": {"size": (0.0, 1.0)},  # a central square of side `size` * the image side is missing
    "downsample": {"factor": (1.0, 64.0)},  # average pooling by `factor` (2, 4, ...)
}


def check_degradation(raw: Any, path: Path | str = "<benchmark>") -> dict[str, Any]:
    """A benchmark's ``eval.degradation`` mapping, validated: ``op``, its parameters and ``seed``."""
    if not isinstance(raw, dict) or "op" not in raw:
        raise GenbenchError(f"benchmark file {path}: eval.degradation must be a mapping with an 'op' key")
    op = str(raw["op"])
    if op not in OPERATORS:
        raise GenbenchError(
            f"benchmark file {path}: eval.degradation.op '{op}'{did_you_mean(op, OPERATORS)} is not one of "
            f"{', '.join(OPERATORS)}"
        )
    params = OPERATORS[op]
    unknown = set(raw) - {"op", "seed", *params}
    if unknown:
        raise GenbenchError(f"benchmark file {path}: eval.degradation ({op}) has unknown keys {sorted(unknown)}")
    out: dict[str, Any] = {"op": op, "seed": int(raw.get("seed", 0))}
    for name, (lo, hi) in params.items():
        if name not in raw:
            raise GenbenchError(f"benchmark file {path}: eval.degradation ({op}) needs '{name}'")
        value = float(raw[name])
        if not lo < value < hi:
            raise GenbenchError(
                f"benchmark file {path}: eval.degradation.{name}={value:g} must lie strictly between {lo:g} and {hi:g}"
            )
        out[name] = int(value) if name == "factor" else value
        if name == "factor" and value != int(value):
            raise GenbenchError(f"benchmark file {path}: eval.degradation.factor must be a whole number")
    return out
