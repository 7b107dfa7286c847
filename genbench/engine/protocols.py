"""The engine's side of the representation and anomaly protocols: label budgets and OOD data."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from genbench.api.anomaly import AnomalyContext
from genbench.api.dataset import ImageData
from genbench.api.metric import Metric
from genbench.api.model import GenerativeModel
from genbench.api.representation import RepresentationContext, labelled_subset
from genbench.benchmarks import Benchmark
from genbench.config import EvalConfig
from genbench.data import load_dataset
from genbench.errors import GenbenchError


def resolve_labels(bench: Benchmark, eval_cfg: EvalConfig) -> EvalConfig:
    """``eval_cfg`` with its label budget checked against the benchmark and made explicit."""
    return dataclasses.replace(eval_cfg, labels=bench.labels(eval_cfg.labels))


def representation_context(bench: Benchmark, data: ImageData, eval_cfg: EvalConfig) -> RepresentationContext:
    """The labelled subset of the run's label budget, drawn with the benchmark's seed."""
    subset = labelled_subset(data.train_y, bench.labels(eval_cfg.labels), bench.label_seed, data.num_classes)
    return RepresentationContext(subset)


def anomaly_context(
    bench: Benchmark, data: ImageData, data_dir: str | None, metrics: Sequence[Metric]
) -> AnomalyContext | None:
    """The benchmark's out-of-distribution dataset, or None when it names none or no metric reads it."""
    if not bench.ood or not any(m.needs_ood for m in metrics):
        return None
    ood = load_dataset(bench.ood, data_dir)
    if ood.info.shape != data.info.shape:
        raise GenbenchError(
            f"benchmark '{bench.name}': its ood set '{bench.ood}' has images of shape {ood.info.shape}, "
            f"not {data.info.shape} like '{data.name}'"
        )
    return AnomalyContext(ood)


def give_labelled(model: GenerativeModel, rep: RepresentationContext, data: ImageData) -> None:
    """Hand a semi-supervised model its labelled subset before training."""
    if model.uses_labelled_subset:
        model.set_labelled(*rep.labelled_images(data))
