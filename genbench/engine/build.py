"""Build models and metrics from their specs."""

from __future__ import annotations

from typing import Any

from genbench.api.dataset import DataInfo
from genbench.api.metric import Metric
from genbench.api.model import GenerativeModel
from genbench.config import apply_overrides
from genbench.errors import GenbenchError
from genbench.specs import MetricSpec, ModelSpec, load_target


def model_class(spec: ModelSpec) -> type[GenerativeModel]:
    cls = load_target(spec.target)
    if not (isinstance(cls, type) and issubclass(cls, GenerativeModel)):
        raise GenbenchError(f"model '{spec.name}' target {spec.target} is not a GenerativeModel subclass")
    return cls


def resolve_config(spec: ModelSpec, info: DataInfo, overrides: dict[str, str] | None = None) -> Any:
    """The model's default config for this dataset with ``--set`` overrides applied."""
    cls = model_class(spec)
    return apply_overrides(cls.default_config(info), overrides or {})


def build_model(spec: ModelSpec, info: DataInfo, config: Any) -> GenerativeModel:
    return model_class(spec)(config, info)


def build_metric(spec: MetricSpec) -> Metric:
    return load_target(spec.target)(spec)
