"""What a suite's jobs will cost on this device, measured before any of them is paid for.

For each job the estimate builds the model as the job will, then measures, on this device:

- **training**: a few of the model's own training steps on the benchmark's batches (after one
  warm-up step), scaled to the steps the budget takes (``ceil(budget images / batch size)``);
- **evaluation**: the benchmark's metrics run for real by :func:`genbench.engine.evaluate.evaluate`
  with the counts cut to two small fractions: the samples to ``fs1 < fs2`` of their count, the
  test images (and what grows with them: the probe's training images, the out-of-distribution
  images, the NLL's noise images) to ``ft1 < ft2``; at least :data:`MIN_ITEMS` items, then three
  times as many, after a warm-up pass. Each metric's seconds are fitted as ``a + b·x`` against
  the fraction ``x`` of the count it grows with (:func:`governing_count`; ``a``: what does not
  grow, e.g. loading a feature extractor) and read at ``x = 1``. On a CPU the fit is on CPU
  seconds, turned into wall seconds at the passes' wall/CPU ratio (the machine's load). The 64-sample grid drawn after
  evaluation costs 64 samples at the rate the first sample metric drew its samples;
- **overhead**: the job's own ``genbench run`` command stopped after one step, in a temporary
  results folder and store (start-up, imports, data, checks, the run row, a checkpoint), once per
  dataset.

Nothing is written: no run row, no checkpoint; feature statistics go to a temporary folder.
Work shared between metrics (samples, likelihoods, reconstructions, features) is shared here as
in the run. What the estimate cannot see: a model whose training gets slower as it learns (none
of the built-in ones), and a machine whose load changes between the estimate and the run.
"""

from __future__ import annotations

import dataclasses
import math
import os
import resource
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from genbench.api.anomaly import AnomalyContext
from genbench.api.dataset import DataInfo, ImageData
from genbench.api.metric import Metric
from genbench.api.model import GenerativeModel, StepContext
from genbench.api.restoration import restoration_context
from genbench.benchmarks import Benchmark
from genbench.config import EvalConfig, TrainConfig, parse_set
from genbench.data import load_dataset
from genbench.engine.batches import Batches
from genbench.engine.build import build_model, resolve_run_configs
from genbench.engine.device import resolve_device, seed_everything
from genbench.engine.evaluate import evaluate, metrics_for
from genbench.engine.protocols import give_degradation, give_labelled, representation_context, resolve_labels
from genbench.engine.trainer import total_steps
from genbench.errors import GenbenchError
from genbench.plugins import Plugins
from genbench.suite.plan import Job

F1 = 0.01  # the smaller fraction of every count the evaluation is measured at; the larger is 3x
MIN_ITEMS = 40  # at f1 the samples and test images are at least this many (set metrics need 20+)
TRAIN_SECONDS = 3.0  # measure training steps for about this long (at least 3 steps)
GRID_SAMPLES = 64  # the sample grid genbench draws after evaluation (genbench.report.builtin)


@dataclass
class JobEstimate:
    job: Job
    train: float  # seconds of training steps
    evaluation: dict[str, float] = field(default_factory=dict)  # metric -> seconds
    grid: float = 0.0  # the sample grid after evaluation
    startup: float = 0.0  # interpreter, imports, data
    cpu: float = 0.0  # the job's CPU seconds (training, metrics, grid, start-up): what the load does not change
    steps: int = 0
    step_seconds: float = 0.0
    unmeasured: dict[str, str] = field(default_factory=dict)  # metric -> why it could not be measured
    load_ratio: float = 1.0  # wall / CPU seconds while the metrics were measured (CPU: the machine's load)

    @property
    def eval_total(self) -> float:
        return sum(self.evaluation.values()) + self.grid

    @property
    def total(self) -> float:
        return self.startup + self.train + self.eval_total


def job_overhead(job: Job, *, device: str, data_dir: str | None) -> tuple[float, float]:
    """(wall, CPU) seconds of what a job's process does besides training and scoring: the job's own
    ``genbench run`` command, stopped after its first step, in a temporary results folder and store
    (start-up, imports, plugins, data, checks, the run row, a checkpoint, the loss curve)."""
    from genbench.suite.executor import job_command
    from genbench.suite.plan import PlannedJob

    with tempfile.TemporaryDirectory(prefix="genbench-estimate-") as tmp:
        cmd = job_command(PlannedJob(job, "start", None), device=device, results_dir=Path(tmp), data_dir=data_dir)
        env = {k: v for k, v in os.environ.items() if k != "GENBENCH_DB"}  # never the user's store
        t0, c0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([*cmd, "--stop-after-steps", "1"], check=False, capture_output=True, env=env)
        c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter() - t0, (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime)


def _cut(x: torch.Tensor, y: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    return x[:n], y[:n]


def shrink(data: ImageData, f: float, min_train: int = 0) -> ImageData:
    """``data`` with its splits cut to a fraction ``f`` (the training split to at least ``min_train``)."""
    n_train = min(len(data.train_y), max(math.ceil(f * len(data.train_y)), min_train, 2 * data.num_classes))
    n_test = min(len(data.test_y), max(math.ceil(f * len(data.test_y)), 2 * data.num_classes))
    train_x, train_y = _cut(data.train_x, data.train_y, n_train)
    test_x, test_y = _cut(data.test_x, data.test_y, n_test)
    extra = {}
    if data.has_domain_b:
        b_train_x, b_train_y, b_test_x, b_test_y = data.splits_b
        n_b_train = min(len(b_train_y), max(math.ceil(f * len(b_train_y)), 2 * data.num_classes))
        n_b_test = min(len(b_test_y), n_test if data.paired_test else max(math.ceil(f * len(b_test_y)), 2))
        extra = dict(train_b_x=b_train_x[:n_b_train], train_b_y=b_train_y[:n_b_train],
                     test_b_x=b_test_x[:n_b_test], test_b_y=b_test_y[:n_b_test])  # fmt: skip
    return dataclasses.replace(data, train_x=train_x, train_y=train_y, test_x=test_x, test_y=test_y, **extra)


def _scaled(n: int, f: float, least: int = 1) -> int:
    return 0 if n == 0 else max(least, math.ceil(n * f))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_training(
    model: GenerativeModel, data: ImageData, cfg: TrainConfig, budget_images: int, seed: int, device: torch.device
) -> tuple[int, float, float]:
    """(steps the budget takes, wall seconds and CPU seconds per step measured on this device)."""
    model.to(device).train()
    optimizers = model.configure_optimizers()
    ctx = StepContext(optimizers, device=device, amp=cfg.amp, grad_clip=cfg.grad_clip or None)
    batches = Batches(data.train_x, data.train_y, cfg.batch_size, seed, device)
    other = (
        Batches(data.train_b_x, data.train_b_y, batches.batch_size, seed + 1_000_000, device)  # type: ignore[arg-type]
        if data.has_domain_b
        else None
    )
    steps = total_steps(budget_images, batches.batch_size)
    if not optimizers and not model.state_dict():  # nothing to learn: the run takes no step
        return 0, 0.0, 0.0
    ctx.total_steps = steps

    def step(i: int) -> None:
        batch = batches.batch(i)
        if other is not None:
            b = other.batch(i)
            batch = dataclasses.replace(batch, x_b=b.x, y_b=b.y)
        ctx.step, ctx.images_seen = i, i * batches.batch_size
        model.training_step(batch, ctx)

    step(0)  # warm-up: lazy initialisation, allocator, kernels chosen
    _sync(device)
    t0, c0, n = time.perf_counter(), time.process_time(), 0
    while n < min(steps, 3) or (time.perf_counter() - t0 < TRAIN_SECONDS and n < min(steps, 50)):
        step(1 + n)
        n += 1
        _sync(device)
    return steps, (time.perf_counter() - t0) / max(n, 1), (time.process_time() - c0) / max(n, 1)


def governing_count(metric: Metric) -> str:
    """Which of the benchmark's counts a metric's cost grows with: "samples" when its value reads
    ``eval.num_samples`` (:attr:`Metric.reads`), else "test" (test, probe and training images)."""
    return "samples" if metric.reads is not None and "num_samples" in metric.reads else "test"


def _evaluate_at(
    fs: float,
    ft: float,
    model: GenerativeModel,
    metrics: list[Metric],
    data: ImageData,
    bench: Benchmark,
    budget: str,
    eval_cfg: EvalConfig,
    device: torch.device,
    ood: ImageData | None,
    unmeasured: dict[str, str],
) -> dict[str, tuple[float, float]]:
    """Each metric's (CPU seconds, wall seconds) with the samples cut to the fraction ``fs`` of their count and the test
    images (and the training images a probe reads, the out-of-distribution images, the NLL's noise
    images) to ``ft``. A metric that fails is left out, with why, and the others measured again.
    Each pass has its own feature cache, so each pays for its reference statistics, as a suite's
    first job does."""
    rep_cfg = resolve_labels(bench, eval_cfg)
    budget_labels = 0 if rep_cfg.labels == "all" else int(rep_cfg.labels)
    small = shrink(data, ft, min_train=3 * budget_labels)
    num_samples = eval_cfg.num_samples or bench.num_samples[budget]
    test_count = bench.test_images.get(budget, 0)
    restoration = None
    if bench.degradation and any(m.spec.requires == "restore" for m in metrics):
        restoration = restoration_context(
            bench.degradation, small.split("test")[0], _scaled(test_count, ft), bench.restore_samples
        )
    todo = list(metrics)
    started: list[str] = []  # the metric being computed when one fails: evaluate reports each start
    clocks: dict[str, tuple[float, float]] = {}  # metric -> (CPU seconds, wall seconds)
    marks: list[tuple[float, float]] = []

    def heard(task: str, done: int, total: int) -> None:
        if not task.startswith("metric "):
            return
        if done == 0:
            started.append(task.removeprefix("metric "))
            marks.append((time.process_time(), time.perf_counter()))
        elif marks:
            cpu, wall = marks.pop()
            clocks[task.removeprefix("metric ")] = (time.process_time() - cpu, time.perf_counter() - wall)

    while todo:
        started.clear()
        try:
            with tempfile.TemporaryDirectory(prefix="genbench-estimate-") as cache:
                scores = evaluate(
                    model, todo, small, num_samples=_scaled(num_samples, fs, 2), device=device, seed=eval_cfg.seed,
                    batch_size=eval_cfg.batch_size, cache_dir=Path(cache), reference_split=bench.reference_split,
                    reference_count=_scaled(bench.reference_count, ft, 2), test_count=_scaled(test_count, ft),
                    probe_count=_scaled(bench.probe_images.get(budget, 0), ft, 2 * data.num_classes),
                    representation=representation_context(bench, small, rep_cfg),
                    anomaly=AnomalyContext(shrink(ood, ft)) if ood is not None else None,
                    restoration=restoration, noise_images=_scaled(300, ft, 2), progress=heard,
                )  # fmt: skip
        except Exception as exc:
            culprit = next((m for m in todo if started and m.spec.name == started[-1]), todo[0])
            unmeasured[culprit.spec.name] = f"{type(exc).__name__}: {exc}".splitlines()[0]
            todo.remove(culprit)
            continue
        return {m.spec.name: clocks.get(m.spec.name, (s.seconds, s.seconds)) for m, s in zip(todo, scores)}
    return {}


def _fractions(count: int) -> tuple[float, float]:
    """The two fractions a count is measured at: at least MIN_ITEMS items, then three times as many."""
    f1 = min(1.0, max(F1, MIN_ITEMS / max(count, 1)))
    f2 = min(1.0, 3 * f1)
    return (f2 / 3, f2) if f1 >= f2 else (f1, f2)


def _line(t1: float, t2: float, f1: float, f2: float) -> tuple[float, float]:
    """(a, b) of the line a + b·f through (f1, t1) and (f2, t2), neither below 0; when timing noise
    makes the larger pass the faster one, no growth: a is the slower of the two."""
    slope = (t2 - t1) / (f2 - f1)
    if slope <= 0:
        return max(t1, t2), 0.0
    return max(t1 - slope * f1, 0.0), slope


def _fit(t1: float, t2: float, f1: float, f2: float) -> float:
    """The line through (f1, t1) and (f2, t2) read at the full count, f = 1."""
    a, b = _line(t1, t2, f1, f2)
    return a + b


def estimate_job(
    job: Job,
    plugins: Plugins,
    *,
    device_name: str,
    data_dir: str | None,
    datasets: dict[str, tuple[ImageData, float, float]],
    startup: tuple[float, float],
    progress: Callable[[str], None] = lambda message: None,
) -> JobEstimate:
    """Measure one job (see the module's docstring); ``datasets`` caches loaded data and its load time."""
    spec = plugins.models.get(job.model)
    bench = plugins.benchmark(job.benchmark)
    dspec = plugins.datasets.get(bench.dataset)
    info = DataInfo(dspec.name, dspec.shape, dspec.num_classes)
    train_cfg, eval_cfg, model_cfg = resolve_run_configs(spec, bench, info, parse_set(list(job.sets)))
    device = resolve_device(device_name)
    if bench.dataset not in datasets:
        t0, c0 = time.perf_counter(), time.process_time()
        loaded = load_dataset(bench.dataset, data_dir)
        datasets[bench.dataset] = (loaded, time.perf_counter() - t0, time.process_time() - c0)
    data = datasets[bench.dataset][0]
    metrics, _ = metrics_for(plugins, bench, spec, info.shape)
    seed_everything(job.seed)
    model = build_model(spec, info, model_cfg)
    give_labelled(model, representation_context(bench, data, eval_cfg), data)
    give_degradation(model, bench)
    estimate = JobEstimate(job, 0.0, startup=startup[0], cpu=startup[1])  # the overhead's run loads the data
    if not model.pretrained:
        progress(f"{job.label}: timing training steps")
        estimate.steps, estimate.step_seconds, step_cpu = measure_training(
            model, data, train_cfg, bench.images(job.budget), job.seed, device
        )
        estimate.train = estimate.steps * estimate.step_seconds
        estimate.cpu += estimate.steps * step_cpu
    ood = None
    if bench.ood and any(m.needs_ood for m in metrics):
        key = f"ood:{bench.ood}"
        if key not in datasets:
            datasets[key] = (load_dataset(bench.ood, data_dir), 0.0, 0.0)
        ood = datasets[key][0]
    model.eval()
    num_samples = eval_cfg.num_samples or bench.num_samples[job.budget]
    n_test = bench.test_images.get(job.budget, 0) or len(data.test_y)
    fs1, fs2 = _fractions(num_samples)
    ft1, ft2 = _fractions(n_test)
    args = (model, metrics, data, bench, job.budget, eval_cfg, device, ood, estimate.unmeasured)
    progress(f"{job.label}: timing the metrics on {fs1:.0%} and {fs2:.0%} of the samples")
    _evaluate_at(fs1, ft1, *args)  # warm-up: extractor weights, lazy initialisation
    first = _evaluate_at(fs1, ft1, *args)
    second = _evaluate_at(fs2, ft2, *args)
    # On a CPU each metric is fitted on its CPU seconds, which a shared machine's load does not
    # jitter (wall-clock jitter over a small pass, scaled 30x, made a 3 s metric look like 90 s), and
    # turned into wall time at the ratio wall/CPU of all the passes: this machine's load, averaged.
    # On a GPU the CPU waits or runs ahead of the device: wall seconds are fitted directly.
    on_cpu = device.type == "cpu"
    pick = 0 if on_cpu else 1
    wall = sum(w for d in (first, second) for _, w in d.values())
    cpu = sum(c for d in (first, second) for c, _ in d.values())
    ratio = max(wall / cpu, 1e-3) if on_cpu and cpu > 0 else 1.0
    estimate.load_ratio = ratio
    per_sample = None  # seconds per sample of the first sample metric, which draws them
    for metric in metrics:
        name = metric.spec.name
        if name in second:
            x1, x2 = (fs1, fs2) if governing_count(metric) == "samples" else (ft1, ft2)
            a, b = _line(first[name][pick] if name in first else 0.0, second[name][pick], x1, x2)
            estimate.evaluation[name] = (a + b) * ratio
            estimate.cpu += (a + b) if on_cpu else 0.0
            if per_sample is None and metric.spec.requires == "sample" and b > 0:
                per_sample = b * ratio / num_samples
    if per_sample is not None:  # the grid: 64 more samples at the rate the metrics drew theirs
        estimate.grid = per_sample * GRID_SAMPLES
        estimate.cpu += estimate.grid / ratio if on_cpu else 0.0
    elif "sample" in model.capabilities and not model.uses_degradation:
        with torch.no_grad():
            k = 4
            labels = torch.arange(k).to(device) % data.num_classes if "conditional" in model.capabilities else None
            _sync(device)
            t0 = time.perf_counter()
            model.sample(k, labels=labels, generator=torch.Generator("cpu").manual_seed(0))
            _sync(device)
            estimate.grid = (time.perf_counter() - t0) * GRID_SAMPLES / k
    if not on_cpu:
        estimate.cpu = 0.0  # a GPU job's CPU seconds say little of what it costs
    return estimate


def check_estimable(jobs: list[Job]) -> None:
    if not jobs:
        raise GenbenchError("nothing to estimate: every job of the suite is done or running")
