"""The engine's side of the representation, anomaly and reconstruction protocols: label budgets,
OOD data, the degradation operator and its measurements."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from genbench.api.anomaly import AnomalyContext
from genbench.api.dataset import ImageData
from genbench.api.metric import Metric
from genbench.api.model import GenerativeModel
from genbench.api.representation import RepresentationContext, labelled_subset
from genbench.api.restoration import Degradation, RestorationContext, restoration_context
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


def check_degradation(bench: Benchmark, data: ImageData) -> None:
    """Refuse, before any training, an operator the dataset's images cannot take."""
    if bench.degradation:
        Degradation.from_mapping(bench.degradation).check_shape(data.info.shape, f"benchmark '{bench.name}'")


def restoration_for(
    bench: Benchmark, data: ImageData, budget: str, metrics: Sequence[Metric]
) -> RestorationContext | None:
    """The test measurements of a reconstruction benchmark, or None when it declares no operator
    or no metric reads them. The budget's ``test_images`` count limits the test images."""
    if not bench.degradation or not any(m.spec.requires == "restore" for m in metrics):
        return None
    check_degradation(bench, data)
    test_x = data.split("test")[0]
    return restoration_context(bench.degradation, test_x, bench.test_images.get(budget, 0), bench.restore_samples)


def give_degradation(model: GenerativeModel, bench: Benchmark) -> None:
    """Hand a restoring model the benchmark's operator before training."""
    if not model.uses_degradation:
        return
    if not bench.degradation:
        raise GenbenchError(
            f"model '{type(model).__name__}' learns to undo a degradation, and benchmark '{bench.name}' declares "
            "none: pick a reconstruction benchmark (`genbench benchmarks` lists them)"
        )
    model.set_degradation(Degradation.from_mapping(bench.degradation))
