"""Build models and metrics from their specs."""

from __future__ import annotations

import dataclasses
from typing import Any

from genbench.api.dataset import DataInfo
from genbench.api.metric import Metric
from genbench.api.model import GenerativeModel
from genbench.benchmarks import Benchmark
from genbench.config import EvalConfig, TrainConfig, apply_overrides
from genbench.engine.protocols import resolve_labels
from genbench.errors import GenbenchError
from genbench.specs import MetricSpec, ModelSpec, load_target


def model_class(spec: ModelSpec) -> type[GenerativeModel]:
    cls = load_target(spec.target)
    if not (isinstance(cls, type) and issubclass(cls, GenerativeModel)):
        raise GenbenchError(f"model '{spec.name}' target {spec.target} is not a GenerativeModel subclass")
    return cls


def resolve_config(spec: ModelSpec, info: DataInfo, overrides: dict[str, str] | None = None, budget: str = "") -> Any:
    """The model's default config for this dataset, its ``smoke_settings`` on the smoke budget,
    then the ``--set`` overrides."""
    cls = model_class(spec)
    config = cls.default_config(info)
    if budget == "smoke" and cls.smoke_settings:
        evaluation = {f.name for f in dataclasses.fields(config) if f.metadata.get("eval")}
        wrong = sorted(set(cls.smoke_settings) - evaluation)
        if wrong:
            raise GenbenchError(
                f"model '{spec.name}': smoke_settings {wrong} are not evaluation settings of {type(config).__name__}; "
                "a smoke run may only evaluate more cheaply, never train another model"
            )
        config = dataclasses.replace(config, **cls.smoke_settings)
    return apply_overrides(config, overrides or {})


def default_train_config(spec: ModelSpec, info: DataInfo) -> TrainConfig:
    """The engine's TrainConfig with the model's own defaults for this dataset applied
    (:meth:`GenerativeModel.default_train_settings`); ``--set train.*`` goes on top."""
    defaults = model_class(spec).default_train_settings(info)
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(defaults) - names)
    if unknown:
        raise GenbenchError(
            f"model '{spec.name}' ({spec.target}) declares unknown train settings {', '.join(unknown)}: "
            f"its default_train_settings may name only {', '.join(sorted(names))}"
        )
    return dataclasses.replace(TrainConfig(), **defaults)


def resolve_run_configs(
    spec: ModelSpec, bench: Benchmark, info: DataInfo, sets: dict[str, dict[str, str]], budget: str = ""
) -> tuple[TrainConfig, EvalConfig, Any]:
    """The train, eval and model configs a run of ``spec`` on ``bench`` at ``budget`` resolves to, from
    the ``--set`` overrides parsed by :func:`genbench.config.parse_set`. ``genbench run`` and the suite
    planner both use it, so a suite finds the run that a command stored (same config hash)."""
    train_cfg = apply_overrides(default_train_config(spec, info), sets["train"], prefix="train.")
    eval_cfg = resolve_labels(bench, apply_overrides(EvalConfig(), sets["eval"], prefix="eval."))
    return train_cfg, eval_cfg, resolve_config(spec, info, sets["model"], budget)


def build_model(spec: ModelSpec, info: DataInfo, config: Any) -> GenerativeModel:
    return model_class(spec)(config, info)


def build_metric(spec: MetricSpec) -> Metric:
    return load_target(spec.target)(spec)
