"""Dataclass configs and type-checked ``--set key=value`` overrides.

Keys without a prefix address the model's config; ``train.`` and ``eval.`` address the
engine's :class:`TrainConfig` and :class:`EvalConfig`. Unknown keys and values that do not
parse as the field's type are errors. Numeric fields declare their valid range where they
are defined (:func:`setting`); :func:`check_settings` enforces it once, before a run starts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from genbench.errors import GenbenchError, did_you_mean

MAX_SEED = 2**31 - 1  # seeds are stored in 32-bit integer columns (PostgreSQL INTEGER)


def bounds(*, ge: float | None = None, gt: float | None = None, le: float | None = None,
           lt: float | None = None) -> dict[str, Any]:  # fmt: skip
    """Field metadata declaring a numeric range (>=, >, <=, <); see :func:`setting`."""
    limits = {k: v for k, v in (("ge", ge), ("gt", gt), ("le", le), ("lt", lt)) if v is not None}
    return {"range": limits}


def setting(default: Any, *, ge: float | None = None, gt: float | None = None, le: float | None = None,
            lt: float | None = None, help: str = "") -> Any:  # fmt: skip
    """A config field with its valid range, e.g. ``lr: float = setting(1e-3, gt=0, le=1)``.

    For a tuple the range applies to each element. NaN is never valid; infinity only when no
    bound excludes it.
    """
    return dataclasses.field(default=default, metadata={**bounds(ge=ge, gt=gt, le=le, lt=lt), "help": help})


@dataclass
class TrainConfig:
    batch_size: int = setting(64, ge=1, le=65536)
    log_every: int = setting(10, ge=1, le=10**9)  # steps between loss records (and divergence checks)
    checkpoint_every: int = setting(0, ge=0, le=10**12)  # images between checkpoints; 0 = every quarter of the budget
    amp: Literal["none", "bf16", "fp16"] = "none"  # opt-in so CPU and GPU numbers compare
    grad_clip: float = setting(0.0, ge=0, lt=math.inf)  # 0 = no clipping


@dataclass
class EvalConfig:
    num_samples: int = setting(0, ge=0, le=200_000)  # 0 = the benchmark's count; FID papers use 50k
    batch_size: int = setting(500, ge=1, le=65536)
    seed: int = setting(1234, ge=0, le=MAX_SEED)  # sampling seed, fixed so re-evaluations are comparable
    labels: str = ""  # label budget, one of the benchmark's eval.labels ("100", "all"); "" = its first


_WORDS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}


def _range_text(limits: dict[str, float]) -> str:
    return " and ".join(f"{_WORDS[k]} {v:g}" if isinstance(v, float) else f"{_WORDS[k]} {v}" for k, v in limits.items())


def _in_range(value: float, limits: dict[str, float]) -> bool:
    return (
        ("ge" not in limits or value >= limits["ge"])
        and ("gt" not in limits or value > limits["gt"])
        and ("le" not in limits or value <= limits["le"])
        and ("lt" not in limits or value < limits["lt"])
    )


@dataclass(frozen=True)
class SettingInfo:
    """One ``--set`` key of a config, as ``genbench settings`` lists it."""

    key: str  # as typed after --set: lr, train.batch_size
    type: str
    default: str
    range: str  # "" where none is declared
    help: str  # the field's declared help, else the comment beside it in the source
    when: str  # "train" (fixed at training), "eval" (`genbench eval --set` may change it) or "memory"


def describe_settings(config: Any, *, prefix: str = "", when: str | None = None) -> list[SettingInfo]:
    """Every field of a config dataclass instance: its key, type, value, range and help.

    ``when`` overrides each field's own (the engine's eval.* settings are all evaluation-time)."""
    comments = _field_comments(type(config))
    hints = typing.get_type_hints(type(config))
    out = []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        shown = ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
        kind = when or ("memory" if f.metadata.get("memory") else "eval" if f.metadata.get("eval") else "train")
        help_text = f.metadata.get("help") or comments.get(f.name, "")
        limits = _range_text(f.metadata.get("range", {}))
        out.append(SettingInfo(prefix + f.name, _type_text(hints.get(f.name, f.type)), shown, limits, help_text, kind))
    return out


def _type_text(tp: Any) -> str:
    """int, float, str, a|b|c for a Literal, int? for an optional, (int, ...) for a tuple."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "|".join(map(str, typing.get_args(tp)))
    if origin in (types.UnionType, typing.Union):
        return "|".join(_type_text(a) if a is not type(None) else "none" for a in typing.get_args(tp))
    if origin is tuple:
        return f"{_type_text(typing.get_args(tp)[0])},..."
    return tp.__name__ if isinstance(tp, type) else str(tp)


def _field_comments(cls: type) -> dict[str, str]:
    """``name: type = default  # comment`` -> {name: comment}, over the class and its dataclass bases."""
    import inspect
    import re

    found: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        for m in re.finditer(r"^\s+(\w+)\s*:[^#\n]*#\s*(.+)$", source, re.M):
            found[m.group(1)] = m.group(2).strip()
    return found


def check_settings(config: Any, *, prefix: str = "") -> None:
    """Raise GenbenchError (one line, naming the key and its valid range) for a value out of range.

    Every numeric field is checked: against its declared range, and for NaN whether declared or not.
    """
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        items = value if isinstance(value, tuple) else (value,)
        limits = f.metadata.get("range", {})
        for item in items:
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                continue
            ok = not (isinstance(item, float) and math.isnan(item)) and _in_range(item, limits)
            if not ok:
                shown = value if not isinstance(value, tuple) else ",".join(map(str, value))
                must = _range_text(limits) if limits else "a number"
                raise GenbenchError(f"setting {prefix}{f.name}={shown} is out of range: it must be {must}")


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
            raise GenbenchError(f"unknown setting '{prefix}{key}'{_suggest(key, names, prefix)}")
        changes[key] = _parse(value, hints[key], prefix + key)
    return dataclasses.replace(config, **changes)


def _suggest(key: str, names: list[str], prefix: str) -> str:
    """Where an unknown key probably belongs: an engine section first (``batch_size`` ->
    ``train.batch_size``), else the closest name here; then where the settings are listed."""
    for section, cls in (("train.", TrainConfig), ("eval.", EvalConfig)):
        if section != prefix and key in {f.name for f in dataclasses.fields(cls)}:
            return f" (did you mean '{section}{key}'?)"
    # The suggestion carries the section typed (train.batchsize -> train.batch_size).
    return f"{did_you_mean(prefix + key, [prefix + n for n in names])}; `genbench settings MODEL` lists them all"


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


def config_hash(resolved: dict[str, Any]) -> str:
    """A short stable hash of JSON-able data (keys sorted): a resolved config, a metric's fingerprint."""
    blob = json.dumps(resolved, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
