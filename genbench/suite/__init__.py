"""Suites: versioned YAML declarations of benchmarks x models x budget x seeds.

A suite file ends in ``.suite.yaml`` and is registered through the same hook as benchmark
files (``genbench_register_benchmarks``), so a plugin ships suites the way it ships benchmarks::

    name: digits
    version: 1
    description: every installed model on scikit-learn's 8x8 digits, quick budget, one CPU
    device: cpu            # default for `genbench suite run`; --device overrides
    budget: quick          # default for every entry
    seeds: [0]             # default for every entry; --seeds overrides
    entries:
      - benchmark: digits
        models: all        # every installed model whose capabilities fit the benchmark
      - benchmark: digits
        models: [ddpm]
        set: [sampler=ddpm, steps=1000]   # optional --set overrides for this entry
    slurm:                 # optional sbatch settings for `suite run --executor slurm`; --slurm-param overrides
      partition: gpu
      time: 240            # minutes per job

Nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genbench.errors import GenbenchError, did_you_mean
from genbench.validate import check_name, load_yaml

SUITE_SUFFIX = ".suite.yaml"
MAX_SEED = 2**31 - 1  # a run's seed is a 32-bit integer column on PostgreSQL
MAX_SEEDS = 1000


def is_suite_file(path: str | Path) -> bool:
    return str(path).endswith(SUITE_SUFFIX)


@dataclass(frozen=True)
class SuiteEntry:
    """One line of a suite: a benchmark, its models, budget, seeds and overrides."""

    benchmark: str
    models: tuple[str, ...] | None  # None: every installed model that fits the benchmark
    budget: str
    seeds: tuple[int, ...]
    sets: tuple[str, ...] = ()


@dataclass(frozen=True)
class Suite:
    name: str
    version: int
    entries: tuple[SuiteEntry, ...]
    description: str = ""
    device: str = "auto"
    path: str = ""
    slurm: tuple[tuple[str, str], ...] = ()  # sbatch settings (key, value) for --executor slurm


def _seeds(value: Any, where: str) -> tuple[int, ...]:
    if isinstance(value, int):
        value = [value]
    try:
        seeds = tuple(int(s) for s in value)
    except (TypeError, ValueError):
        raise GenbenchError(f"{where}: seeds must be a list of integers, got {value!r}") from None
    if not seeds:
        raise GenbenchError(f"{where}: seeds must not be empty")
    if len(seeds) > MAX_SEEDS or not all(0 <= s <= MAX_SEED for s in seeds):
        raise GenbenchError(f"{where}: give at most {MAX_SEEDS} seeds, each from 0 to {MAX_SEED}")
    return seeds


def parse_seeds(text: str) -> tuple[int, ...]:
    """``"0,1,2"`` or ``"0-2"`` -> (0, 1, 2), for ``--seeds``."""
    seeds: list[int] = []
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            lo, dash, hi = part.partition("-")
            first, last = (int(lo), int(hi)) if dash else (int(part), int(part))
            if not 0 <= first <= last <= MAX_SEED or len(seeds) + last - first + 1 > MAX_SEEDS:
                raise GenbenchError(
                    f"--seeds {text}: give at most {MAX_SEEDS} seeds from 0 to {MAX_SEED}, ranges low-high, like 0-4"
                )
            seeds.extend(range(first, last + 1))
    except ValueError:
        raise GenbenchError(f"--seeds {text}: expected integers like 0,1,2 or 0-2") from None
    if not seeds:
        raise GenbenchError(f"--seeds {text}: give at least one seed")
    return tuple(seeds)


def load_suite(path: str | Path) -> Suite:
    """Read and validate one suite file."""
    raw = load_yaml(path, "suite file")
    if not isinstance(raw, dict):
        raise GenbenchError(f"suite file {path} must hold a mapping")
    unknown = set(raw) - {"name", "version", "description", "device", "budget", "seeds", "entries", "slurm"}
    if unknown:
        raise GenbenchError(f"suite file {path}: unknown keys {sorted(unknown)}")
    try:
        name, version = check_name(raw["name"], f"suite file {path}: name"), int(raw["version"])
        entries_raw = raw["entries"]
    except (KeyError, TypeError, ValueError) as exc:
        raise GenbenchError(f"suite file {path} is malformed: {type(exc).__name__} {exc}") from None
    if not isinstance(entries_raw, list) or not entries_raw:
        raise GenbenchError(f"suite file {path}: 'entries' must be a non-empty list")
    budget = str(raw.get("budget", "quick"))
    seeds = _seeds(raw.get("seeds", [0]), str(path))
    entries = []
    for i, e in enumerate(entries_raw):
        where = f"suite file {path}, entry {i + 1}"
        if not isinstance(e, dict) or "benchmark" not in e:
            raise GenbenchError(f"{where}: each entry needs a 'benchmark'")
        bad = set(e) - {"benchmark", "models", "budget", "seeds", "set"}
        if bad:
            raise GenbenchError(f"{where}: unknown keys {sorted(bad)}")
        models = e.get("models", "all")
        if models != "all" and not (isinstance(models, list) and all(isinstance(m, str) for m in models)):
            raise GenbenchError(f"{where}: 'models' must be 'all' or a list of model names")
        sets = e.get("set", []) or []
        if isinstance(sets, dict):  # {key: value} reads better in YAML than a list of strings
            sets = [f"{k}={v}" for k, v in sets.items()]
        entries.append(
            SuiteEntry(
                benchmark=str(e["benchmark"]),
                models=None if models == "all" else tuple(models),
                budget=str(e.get("budget", budget)),
                seeds=_seeds(e["seeds"], where) if "seeds" in e else seeds,
                sets=tuple(str(s) for s in sets),
            )
        )
    description, device = str(raw.get("description", "")), str(raw.get("device", "auto"))
    slurm = raw.get("slurm") or {}
    if not isinstance(slurm, dict) or any(isinstance(v, (dict, list)) for v in slurm.values()):
        raise GenbenchError(f"suite file {path}: 'slurm' must map sbatch settings to values, like partition: gpu")
    slurm_pairs = tuple((str(k), str(v)) for k, v in slurm.items())
    return Suite(name, version, tuple(entries), description, device, str(path), slurm_pairs)


def get_suite(name_or_path: str, suites: dict[str, Suite]) -> Suite:
    """A registered suite by name, or a suite file by path."""
    if name_or_path in suites:
        return suites[name_or_path]
    if is_suite_file(name_or_path) or Path(name_or_path).is_file():
        return load_suite(name_or_path)
    raise GenbenchError(
        f"unknown suite '{name_or_path}'{did_you_mean(name_or_path, suites)}; `genbench suite list` lists them, "
        f"or pass a path to a *{SUITE_SUFFIX} file"
    )
