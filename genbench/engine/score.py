"""Scoring samples that were made elsewhere (``genbench score``) and writing a run's samples out
(``genbench samples``), both under exactly the benchmark's evaluation protocol.

A sample file is scored the way a run's samples are: the benchmark's sample count (the count of
the largest budget the file can fill, or of ``--budget``; its first that many images), its
reference images, the 8-bit images, the evaluation seed and batch size of a default
``EvalConfig``, and every sample metric of the benchmark with its fingerprint; class labels in
the file enable the ``conditional`` metrics (cond-acc). The result is stored as an entry of kind
"samples": no training, no cost, its provenance the file's sha256 and the label given.

``genbench samples RUN`` draws a run's samples exactly as its evaluation drew them (its eval seed,
batch size and sample count, one generator per batch), so scoring them gives the run's values.
"""

from __future__ import annotations

import dataclasses
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from genbench.api.dataset import ImageData
from genbench.api.metric import _ACTIVE, Metric, Score, fingerprint_hash
from genbench.api.protocols import ProtocolContext
from genbench.benchmarks import Benchmark
from genbench.config import EvalConfig, config_hash
from genbench.data import load_dataset
from genbench.engine.build import build_metric
from genbench.engine.device import hardware, resolve_device, rng_state, seed_everything, set_rng_state, set_threads
from genbench.engine.sample_files import SampleSet, read_samples, write_samples
from genbench.errors import GenbenchError, blame
from genbench.plugins import Plugins
from genbench.specs import meets
from genbench.store import Store
from genbench.store.entries import store_entry
from genbench.store.schema import Run

if TYPE_CHECKING:
    from genbench.engine.runner import Runner

Progress = Callable[[str, int, int], None]
SAMPLE_CAPABILITIES = ("sample", "conditional")  # what a file of images (with labels) can stand in for


@dataclass
class ScoreRequest:
    path: Path
    benchmark: str
    name: str | None = None  # the entry's label on leaderboards; default: the file's name
    budget: str | None = None  # whose sample count to score at; default: the largest the file fills
    data_dir: str | None = None
    device: str = "auto"
    threads: int = 0


@dataclass
class ScoreOutcome:
    run: Run
    scores: list[Score]
    used: int  # images scored
    total: int  # images in the file
    skipped: dict[str, str] = field(default_factory=dict)  # benchmark metrics not scored, with why


@dataclass
class FileSamplesContext(ProtocolContext):
    """The evaluation context of images read from a file: metrics read them where a run's would be drawn."""

    def samples(self) -> torch.Tensor:
        assert self._samples is not None
        return self._samples

    def conditional_samples(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._cond is None:
            raise GenbenchError("these samples carry no labels: conditional metrics need an .npz with arr_1")
        return self._cond


def pick_budget(bench: Benchmark, count: int, budget: str | None, path: Path) -> str:
    """The budget whose sample count the file is scored at: ``budget``, else the largest it fills."""
    if budget is not None:
        bench.images(budget)  # an unknown budget fails here
        need = bench.num_samples[budget]
        if count < need:
            raise GenbenchError(
                f"{path} holds {count:,} images; benchmark '{bench.name}' scores {need:,} samples at its {budget} "
                "budget: give at least that many"
            )
        return budget
    fitting = [b for b, n in sorted(bench.num_samples.items(), key=lambda kv: kv[1]) if n <= count]
    if not fitting:
        smallest = min(bench.num_samples.items(), key=lambda kv: kv[1])
        raise GenbenchError(
            f"too few images: {path} holds {count:,}; benchmark '{bench.name}' scores at least {smallest[1]:,} "
            f"samples (its {smallest[0]} budget)"
        )
    return fitting[-1]


def sample_metrics(
    plugins: Plugins, bench: Benchmark, capabilities: set[str], shape: tuple[int, int, int]
) -> tuple[list[Metric], dict[str, str]]:
    """The benchmark's metrics images with these capabilities give, and the others with why not."""
    metrics: list[Metric] = []
    skipped: dict[str, str] = {}
    for name in (*bench.metrics, *bench.optional_metrics):
        mspec = plugins.metrics.get(name)
        if not meets(mspec.requires, capabilities):
            if mspec.requires in SAMPLE_CAPABILITIES:
                skipped[name] = "needs class labels with the images (an .npz with arr_1)"
            continue  # a likelihood, a classifier...: nothing a file of samples can give
        metric = build_metric(mspec)
        try:
            metric.check(bench.dataset, shape)
        except GenbenchError as exc:
            if name in bench.metrics:
                raise
            skipped[name] = str(exc)
            continue
        metrics.append(metric)
    return metrics, skipped


def score_samples(
    plugins: Plugins,
    store: Store,
    req: ScoreRequest,
    *,
    cache_dir: Path,
    progress: Progress | None = None,
    notice: Callable[[str], None] | None = None,
) -> ScoreOutcome:
    """Read, check and score a sample file; store it as a "samples" entry. Nothing is stored on any error."""
    started = time.perf_counter()
    bench = plugins.benchmark(req.benchmark)
    if req.name and req.name in {spec.name for spec in plugins.models}:
        raise GenbenchError(f"--name {req.name} is an installed model's name: give the samples a label of their own")
    dspec = plugins.datasets.get(bench.dataset)
    store.require_writable()
    data = load_dataset(bench.dataset, req.data_dir)  # missing reference data is said before the files are read
    samples = read_samples(req.path, dspec.shape, dspec.num_classes, progress)
    budget = pick_budget(bench, len(samples.images), req.budget, req.path)
    n = bench.num_samples[budget]
    caps = {"sample"} | ({"conditional"} if samples.labels is not None else set())
    metrics, skipped = sample_metrics(plugins, bench, caps, dspec.shape)
    if not metrics:
        raise GenbenchError(f"benchmark '{bench.name}' has no metric that scores samples: pick another benchmark")
    if notice is not None and n < len(samples.images):
        notice(f"scoring the first {n:,} of {len(samples.images):,} images ({bench.name}'s {budget} sample count)")
    threads = set_threads(req.threads)
    device = resolve_device(req.device)
    eval_cfg = EvalConfig()
    x = ImageData.to_float(samples.images[:n])
    labels = samples.labels[:n] if samples.labels is not None else None
    ctx = FileSamplesContext(
        model=None,  # type: ignore[arg-type]  # no model: the images come from the file
        data=data, num_samples=n, device=device, seed=eval_cfg.seed, batch_size=eval_cfg.batch_size,
        cache_dir=cache_dir, reference_split=bench.reference_split, reference_count=bench.reference_count,
    )  # fmt: skip
    ctx.progress = progress
    ctx._samples = x
    ctx._cond = (x, labels) if labels is not None else None
    scores = _score(ctx, metrics, lambda name: plugins.origin(plugins.metrics.plugin_of(name)))
    label = req.name or req.path.name
    run = _entry(req, bench, budget, samples, label, eval_cfg, n, device, threads, skipped)
    run.wall_seconds = time.perf_counter() - started
    store_entry(store, run, scores)
    return ScoreOutcome(store.get_run(run.id), scores, n, len(samples.images), skipped)


def _score(ctx: ProtocolContext, metrics: list[Metric], origin: Callable[[str], str]) -> list[Score]:
    """Each metric as :func:`genbench.engine.evaluate.evaluate` computes it: from the eval seed, in order."""
    scores = []
    token = _ACTIVE.set(ctx)  # feature extractors report progress through it
    try:
        for metric in metrics:
            ctx.report(f"metric {metric.spec.name}", 0, 1)
            t0 = time.perf_counter()
            saved = rng_state()
            seed_everything(ctx.seed)
            try:
                with blame(origin(metric.spec.name), f"computing metric '{metric.spec.name}'"):
                    value = metric.compute(ctx)
            finally:
                set_rng_state(saved)
            fp = dict(value.fingerprint)
            # Whatever else a value carries that a Score holds under the same name (an interval) goes along.
            carried = {f.name for f in dataclasses.fields(Score)} & {f.name for f in dataclasses.fields(value)}
            extra = {k: getattr(value, k) for k in carried - {"name", "value", "fingerprint", "settings"}}
            scores.append(
                Score(value.name or metric.spec.name, float(value.value), metric.spec.direction, metric.spec.unit,
                      fp, fingerprint_hash(fp), dict(value.settings), time.perf_counter() - t0, **extra)
            )  # fmt: skip
            ctx.report(f"metric {metric.spec.name}", 1, 1)
    finally:
        _ACTIVE.reset(token)
    return scores


def _versions() -> dict[str, str]:
    out = {}
    for dist in ("genbench", "torch", "torchvision", "torchmetrics"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "?"
    return out


def _entry(
    req: ScoreRequest, bench: Benchmark, budget: str, samples: SampleSet, label: str, eval_cfg: EvalConfig,
    n: int, device: torch.device, threads: int, skipped: dict[str, str],
) -> Run:  # fmt: skip
    from genbench.engine.runner import git_commit

    # The file's hash is part of the entry's config: two files under one label are two rows, not two seeds.
    config: dict[str, Any] = {
        "model": {"samples_sha256": samples.sha256[:16]},
        "train": {},
        "eval": dataclasses.asdict(eval_cfg),
        "samples": {"path": str(req.path), "layout": samples.layout, "images": len(samples.images), "scored": n,
                    "labels": samples.labels is not None},
        "data_dir": req.data_dir,
        "skipped_metrics": skipped,
        "threads": threads,
    }  # fmt: skip
    run_id = uuid.uuid4().hex[:8]
    return Run(
        id=run_id, status="finished", kind="samples", family="samples", model=label, dataset=bench.dataset,
        benchmark=bench.name, benchmark_version=bench.version, budget=budget, budget_images=0, seed=0,
        config=config, config_hash=config_hash({k: config[k] for k in ("model", "train", "eval")}),
        versions=_versions(), git_commit=git_commit(), device=device.type, hardware=hardware(device),
        num_params=0, images_seen=0, steps=0, train_seconds=0.0, run_dir="",
        provenance={"sha256": samples.sha256, "label": label, "path": str(req.path.resolve()),
                    "host": socket.gethostname()},
    )  # fmt: skip


# -- a run's samples out -----------------------------------------------------------------


def run_samples(
    runner: Runner, run_id: str, out: Path, *, conditional: bool = False, device_name: str = "auto",
    progress: Progress | None = None,
) -> tuple[Run, int]:  # fmt: skip
    """Draw a finished run's evaluation samples again (same seed, count, batches) and write them to ``out``.

    ``conditional``: the class-conditional samples with their labels (what cond-acc scored).
    Returns the run and the image count.
    """
    run = runner.store.get_run(run_id)
    if run.kind == "samples" or run.status != "finished":
        raise GenbenchError(f"run {run.id} is a {run.kind} entry ({run.status}): only finished runs draw samples")
    if run.kind == "trained" and not (Path(run.run_dir) / "checkpoint.pt").is_file():
        raise GenbenchError(f"run {run.id} has no checkpoint here ({run.run_dir}): an imported run cannot draw samples")
    spec = runner.plugins.models.get(run.model)
    need = "conditional" if conditional else "sample"
    if need not in spec.capabilities:
        raise GenbenchError(f"model '{run.model}' cannot '{need}' (it can {', '.join(sorted(spec.capabilities))})")
    if out.suffix not in (".npz", ".pt", ""):
        raise GenbenchError(f"--out {out}: write an .npz, a .pt or a folder (a path without a suffix)")
    if conditional and not out.suffix:
        raise GenbenchError(f"--out {out}: a folder of images carries no labels; write an .npz or a .pt")
    model, data = runner.load_trained(run.id)
    bench = runner.plugins.benchmark(run.benchmark)
    eval_cfg = EvalConfig(**run.config["eval"])
    set_threads(run.config.get("threads"))
    device = resolve_device(device_name)
    ctx = ProtocolContext(
        model, data, eval_cfg.num_samples or bench.num_samples[run.budget], device, seed=eval_cfg.seed,
        batch_size=eval_cfg.batch_size,
    )  # fmt: skip
    ctx.progress = progress
    model.to(device).eval()
    saved = rng_state()
    seed_everything(eval_cfg.seed)  # as evaluate() does before the metric that draws the samples
    try:
        with blame(runner.plugins.origin(runner.plugins.models.plugin_of(run.model)), "drawing samples"):
            x, labels = ctx.conditional_samples() if conditional else (ctx.samples(), None)
    finally:
        set_rng_state(saved)
    images = torch.round(x * 255).to(torch.uint8)
    write_samples(images, labels, out, progress)
    return run, len(images)
