"""Dataclass configs and type-checked ``--set key=value`` overrides.

Keys without a prefix address the model's config; ``train.`` and ``eval.`` address the
engine's :class:`TrainConfig` and :class:`EvalConfig`. Unknown keys and values that do not
parse as the field's type are errors.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from genbench.errors import GenbenchError, did_you_mean


@dataclass
class TrainConfig:
    batch_size: int = 64
    log_every: int = 10  # steps between loss records (and divergence checks)
    checkpoint_every: int = 0  # images between checkpoints; 0 = every quarter of the budget
    amp: str = "none"  # "none" | "bf16" | "fp16"; opt-in so CPU and GPU numbers compare
    grad_clip: float = 0.0  # 0 = no clipping


@dataclass
class EvalConfig:
    num_samples: int = 0  # 0 = the benchmark's count for the budget
    batch_size: int = 500
    seed: int = 1234  # sampling seed, fixed so re-evaluations are comparable
    labels: str = ""  # label budget, one of the benchmark's eval.labels ("100", "all"); "" = its first


def _parse(value: str, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise GenbenchError(f"--set {key}={value}: must be one of {', '.join(map(str, choices))}")
        return value
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value.lower() in ("none", "null"):
            return None
        return _parse(value, args[0], key)
    if origin is tuple:
        inner = typing.get_args(tp)[0]
        parts = [p for p in value.strip("()[] ").split(",") if p.strip()]
        return tuple(_parse(p.strip(), inner, key) for p in parts)
    try:
        if tp is bool:
            low = value.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if tp is int:
            return int(value)
        if tp is float:
            return float(value)
        if tp is str:
            return value
    except ValueError:
        raise GenbenchError(f"--set {key}={value}: expected {tp.__name__}") from None
    raise GenbenchError(f"--set {key}: fields of type {tp} cannot be set from the command line")


def apply_overrides(config: Any, overrides: dict[str, str], *, prefix: str = "") -> Any:
    """A copy of ``config`` with string overrides parsed to each field's declared type."""
    hints = typing.get_type_hints(type(config))
    names = [f.name for f in dataclasses.fields(config)]
    changes = {}
    for key, value in overrides.items():
        if key not in names:
            raise GenbenchError(
                f"unknown setting '{prefix}{key}'{did_you_mean(key, names)}; "
                "`genbench show RUN` lists a run's settings"
            )
        changes[key] = _parse(value, hints[key], prefix + key)
    return dataclasses.replace(config, **changes)


def parse_set(items: list[str] | None) -> dict[str, dict[str, str]]:
    """``["lr=1e-3", "train.batch_size=32"]`` -> ``{"model": {...}, "train": {...}, "eval": {...}}``."""
    out: dict[str, dict[str, str]] = {"model": {}, "train": {}, "eval": {}}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise GenbenchError(f"--set '{item}': expected key=value, e.g. --set train.batch_size=32")
        section, dot, rest = key.partition(".")
        if dot and section in ("train", "eval"):
            out[section][rest] = value
        else:
            out["model"][key] = value
    return out


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def config_hash(resolved: dict[str, Any]) -> str:
    blob = json.dumps(resolved, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
