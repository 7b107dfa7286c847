"""What a suite still has to do: each job matched against the runs already stored.

A job is one (benchmark, model, budget, seed, overrides). It is matched to stored runs by
model, benchmark and version, budget, seed and the hash of the resolved config, computed
exactly as :meth:`genbench.engine.runner.Runner.run` computes it, so a config whose
defaults changed is a new job.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from genbench.api.dataset import DataInfo
from genbench.benchmarks import Benchmark
from genbench.config import config_hash, parse_set
from genbench.errors import GenbenchError
from genbench.plugins import Plugins
from genbench.specs import ModelSpec
from genbench.store import Store
from genbench.store.db import is_dead
from genbench.store.queries import runs_of_job
from genbench.store.schema import LIVE_STATUSES, Run
from genbench.suite import Suite

Action = Literal["done", "running", "resume", "restart", "start"]


@dataclass(frozen=True)
class Job:
    benchmark: str
    benchmark_version: int
    dataset: str
    family: str
    model: str
    budget: str
    seed: int
    sets: tuple[str, ...]
    config_hash: str

    @property
    def key(self) -> str:
        """What makes the job one job: its claim's key in the store, its entry in jobs.json."""
        return f"{self.model}|{self.benchmark}|v{self.benchmark_version}|{self.budget}|s{self.seed}|{self.config_hash}"

    @property
    def label(self) -> str:
        extra = f" [{' '.join(self.sets)}]" if self.sets else ""
        return f"{self.model} on {self.benchmark} ({self.budget}, seed {self.seed}){extra}"


@dataclass
class PlannedJob:
    job: Job
    action: Action  # done: finished (or diverged); running: alive elsewhere; the rest are to do
    run: Run | None  # the stored run this job maps to, if any

    @property
    def why(self) -> str:
        r = self.run
        return {
            "done": f"{r.status} as run {r.id}" if r else "",
            "running": f"running as run {r.id} (heartbeat {r.heartbeat:%H:%M:%S})" if r else "",
            "resume": f"run {r.id} is {'dead' if r.status == 'running' else 'interrupted'}: resume it" if r else "",
            "restart": f"run {r.id} is {r.status} with no checkpoint: start again" if r else "",
            "start": "not run yet",
        }[self.action]


def fits(plugins: Plugins, spec: ModelSpec, benchmark: str) -> bool:
    """True when the model has every capability the benchmark's required metrics need and at
    least one of its metrics (required or optional) can score it."""
    bench = plugins.benchmark(benchmark)
    caps = set(spec.capabilities)
    needs = [plugins.metrics.get(m).requires for m in bench.metrics]
    if any(n and n not in caps for n in needs):
        return False
    usable = [m for m in (*bench.metrics, *bench.optional_metrics) if plugins.metrics.get(m).requires in (None, *caps)]
    return bool(usable)


def resolved_hash(plugins: Plugins, spec: ModelSpec, bench: Benchmark, sets: tuple[str, ...], budget: str = "") -> str:
    """The config hash a ``genbench run`` at ``budget`` with these overrides stores (imports the model class)."""
    from genbench.engine.build import resolve_run_configs

    dspec = plugins.datasets.get(bench.dataset)
    info = DataInfo(dspec.name, dspec.shape, dspec.num_classes)
    train_cfg, eval_cfg, model_cfg = resolve_run_configs(spec, bench, info, parse_set(list(sets)), budget)
    resolved = {"model": model_cfg, "train": train_cfg, "eval": eval_cfg}
    return config_hash({k: dataclasses.asdict(v) for k, v in resolved.items()})


def expand(suite: Suite, plugins: Plugins, seeds: tuple[int, ...] | None = None) -> list[Job]:
    """Every job of the suite, in declaration order; unknown names are errors before anything runs."""
    jobs: list[Job] = []
    for entry in suite.entries:
        bench = plugins.benchmark(entry.benchmark)
        bench.images(entry.budget)  # unknown budget: error now
        if entry.models is None:
            given = {item.split("=", 1)[0] for item in entry.sets}
            specs = [s for s in plugins.models if fits(plugins, s, bench.name) and set(s.requires_settings) <= given]
        else:
            specs = [plugins.models.get(m) for m in entry.models]
            for s in specs:
                if not fits(plugins, s, bench.name):
                    raise GenbenchError(
                        f"suite '{suite.name}': model '{s.name}' ({', '.join(sorted(s.capabilities))}) cannot be "
                        f"scored on benchmark '{bench.name}': drop it from the entry or use models: all"
                    )
        for spec in specs:
            h = resolved_hash(plugins, spec, bench, entry.sets, entry.budget)
            for seed in seeds or entry.seeds:
                job = Job(bench.name, bench.version, bench.dataset, spec.family, spec.name, entry.budget, seed,
                          entry.sets, h)  # fmt: skip
                if job not in jobs:
                    jobs.append(job)
    return jobs


def find_runs(store: Store, job: Job) -> list[Run]:
    """Stored runs of this job, newest first."""
    return runs_of_job(
        store, model=job.model, benchmark=job.benchmark, benchmark_version=job.benchmark_version,
        budget=job.budget, seed=job.seed, config_hash=job.config_hash,
    )  # fmt: skip


def classify(job: Job, runs: list[Run]) -> PlannedJob:
    """What to do for a job given its stored runs (newest first)."""
    for status in ("finished", "diverged"):  # a diverged seed diverges again: it is a result too
        done = next((r for r in runs if r.status == status), None)
        if done:
            return PlannedJob(job, "done", done)
    for r in runs:
        if r.status in LIVE_STATUSES and not is_dead(r):  # training or being scored by a live process
            return PlannedJob(job, "running", r)
    for r in runs:
        if r.status == "interrupted" or r.status in LIVE_STATUSES:  # a live status whose process died
            has_ckpt = (Path(r.run_dir) / "checkpoint.pt").exists()
            return PlannedJob(job, "resume" if has_ckpt else "restart", r)
    return PlannedJob(job, "start", runs[0] if runs else None)  # never run, or only failed runs


def plan(suite: Suite, plugins: Plugins, store: Store | None, seeds: tuple[int, ...] | None = None) -> list[PlannedJob]:
    """Each job of the suite and what to do for it; ``store`` None: no store yet, every job is to start."""
    return [classify(job, find_runs(store, job) if store else []) for job in expand(suite, plugins, seeds)]
