"""Frozen spec dataclasses returned by the registration hooks.

A spec names its implementation as a ``"module:attr"`` string so that importing a plugin
stays cheap; :func:`load_target` imports it when it is first needed. Nothing here imports torch.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

Capability = Literal[
    "sample",  # unconditional samples: model.sample(n)
    "conditional",  # class-conditional samples: model.sample(n, labels=y)
    "log_likelihood",  # nats per example of 8-bit data: model.log_likelihood(x, y)
    "reconstruct",  # model.reconstruct(x)
    "encode",  # features for downstream classification: model.encode(x)
    "classify",  # class logits: model.classify(x)
    "translate",  # two domains: model.translate(x, direction)
    "restore",  # K posterior samples from degraded measurements: model.restore(measurements, k)
]
CAPABILITIES: tuple[str, ...] = get_args(Capability)

Direction = Literal["min", "max"]


def load_target(target: str) -> Any:
    """Import ``"package.module:attr"`` and return the attribute."""
    module_name, _, attr = target.partition(":")
    if not attr:
        raise ValueError(f"target {target!r} must look like 'package.module:attr'")
    module = importlib.import_module(module_name)
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def meets(requires: str | None, capabilities: frozenset[str] | set[str]) -> bool:
    """Whether a model with ``capabilities`` meets a metric's ``requires`` ("a|b": any of them)."""
    return not requires or any(cap in capabilities for cap in requires.split("|"))


@dataclass(frozen=True)
class ModelSpec:
    """A trainable model.

    ``target`` names a :class:`genbench.api.model.GenerativeModel` subclass whose
    ``Config`` attribute is its config dataclass. ``capabilities`` must equal the class's
    own (the contract tests check it); it is repeated here so that the CLI can check a
    benchmark's needs without importing torch.
    """

    name: str
    family: str
    target: str
    capabilities: frozenset[str]
    description: str = ""
    default: bool = False  # the model `genbench run FAMILY` picks
    paper: str = ""
    # Settings a run cannot do without (e.g. a pretrained model's "pretrained"): a suite entry with
    # `models: all` leaves the model out unless the entry's `set:` gives them all.
    requires_settings: tuple[str, ...] = ()


@dataclass(frozen=True)
class DatasetSpec:
    """An image dataset: ``target`` names a function ``load(root: Path | None) -> ImageData``."""

    name: str
    target: str
    shape: tuple[int, int, int]  # (C, H, W)
    num_classes: int
    description: str = ""
    needs_files: bool = True  # False: works offline with no data folder
    layout: str = ""  # the folder layout expected under the data root, for error messages
    domains: tuple[str, ...] = ()  # two-domain datasets: the names of domains A and B (ImageData.train_b_x...)
    paired_test: bool = False  # two-domain: each test image's counterpart in the other domain is known


@dataclass(frozen=True)
class MetricSpec:
    """A metric: ``target`` names a :class:`genbench.api.metric.Metric` subclass."""

    name: str
    target: str
    direction: Direction
    requires: str | None  # the model capability it needs; "a|b" for any of several; None for none
    fingerprint_fields: tuple[str, ...]
    description: str = ""
    unit: str = ""
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
