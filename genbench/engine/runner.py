"""Protocols: run a model on a benchmark, resume an interrupted run, re-evaluate a stored one.

Everything that can be wrong with the user's input (names, settings, data, metrics,
folders, database) is checked before a run row is written, so a bad command stores nothing.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import torch
from sqlalchemy import delete, select

from genbench.api.dataset import DataInfo, ImageData
from genbench.api.model import GenerativeModel, eval_fields
from genbench.benchmarks import Benchmark
from genbench.config import EvalConfig, TrainConfig, apply_overrides, config_hash, parse_set
from genbench.data import load_dataset
from genbench.engine.build import build_model, model_class, resolve_config
from genbench.engine.checkpoint import load_checkpoint
from genbench.engine.device import hardware, resolve_device, seed_everything
from genbench.engine.evaluate import Score, evaluate, metrics_for
from genbench.engine.protocols import anomaly_context, give_labelled, representation_context, resolve_labels
from genbench.engine.trainer import Reporter, TrainResult, train
from genbench.errors import GenbenchError
from genbench.plugins import Plugins, get_plugins
from genbench.report.images import save_loss_curve, save_sample_grid
from genbench.specs import ModelSpec
from genbench.store import Store, default_db_url
from genbench.store.db import new_run_id
from genbench.store.schema import Artifact, LossPoint, MetricRecord, Run, utcnow

STALE_HEARTBEAT = timedelta(minutes=2)  # a "running" run silent this long is taken as dead


@dataclass
class RunRequest:
    family: str
    dataset: str
    model: str | None = None
    budget: str = "quick"
    benchmark: str | None = None
    seed: int = 0
    sets: list[str] = field(default_factory=list)
    device: str = "auto"
    data_dir: str | None = None
    stop_after_steps: int = 0  # >0: stop as a Ctrl-C would at that step (not part of the config)


@dataclass
class Outcome:
    run: Run
    scores: list[Score]
    train: TrainResult | None = None


def ensure_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise GenbenchError(
            f"results folder {folder} is not writable ({exc.strerror}): pass --results-dir to a folder you can write"
        ) from None


def package_versions(plugins: Plugins, spec: ModelSpec) -> dict[str, str]:
    out = {}
    for dist in ("genbench", "torch", "torchvision", "torchmetrics"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "?"
    plugin = plugins.models.plugin_of(spec.name)
    info = next((i for i in plugins.info if i.name == plugin), None)
    out[f"plugin:{plugin}"] = info.version if info else "?"
    return out


def git_commit() -> str | None:
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "-uno"], capture_output=True, text=True, timeout=5)
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


class Runner:
    """Runs protocols against one results folder and one store."""

    def __init__(
        self,
        results_dir: str | Path = "results",
        db_url: str | None = None,
        plugins: Plugins | None = None,
        notice: Callable[[str], None] | None = None,
    ):
        self.results_dir = Path(results_dir)
        self.notice = notice or (lambda message: None)  # the CLI shows these before training
        self.plugins = plugins or get_plugins()
        self.db_url = db_url or default_db_url(self.results_dir)
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store(self.db_url)
        return self._store

    # -- run ---------------------------------------------------------------------------

    def run(self, req: RunRequest, reporter: Reporter | None = None) -> Outcome:
        plugins = self.plugins
        spec = plugins.resolve_model(req.family, req.model)
        dspec = plugins.datasets.get(req.dataset)
        bench = plugins.benchmark(req.benchmark) if req.benchmark else plugins.benchmark_for(req.dataset)
        if bench.dataset != req.dataset:
            raise GenbenchError(f"benchmark '{bench.name}' is on dataset '{bench.dataset}', not '{req.dataset}'")
        budget_images = bench.images(req.budget)
        sets = parse_set(req.sets)
        train_cfg = apply_overrides(TrainConfig(), sets["train"], prefix="train.")
        eval_cfg = resolve_labels(bench, apply_overrides(EvalConfig(), sets["eval"], prefix="eval."))
        info = DataInfo(dspec.name, dspec.shape, dspec.num_classes)
        model_cfg = resolve_config(spec, info, sets["model"])
        device = resolve_device(req.device)
        metrics, skipped = metrics_for(plugins, bench, spec, dspec.shape)
        for name, why in skipped.items():
            self.notice(f"metric {name} skipped: {why}")
        ensure_writable(self.results_dir)
        store = self.store
        data = load_dataset(req.dataset, req.data_dir)
        representation_context(bench, data, eval_cfg)  # a label budget the data cannot meet fails here
        anomaly_context(bench, data, req.data_dir, metrics)  # so does a missing out-of-distribution set

        seed_everything(req.seed)
        model = build_model(spec, data.info, model_cfg)
        resolved = {
            "model": dataclasses.asdict(model_cfg),
            "train": dataclasses.asdict(train_cfg),
            "eval": dataclasses.asdict(eval_cfg),
            "data_dir": req.data_dir,
            "skipped_metrics": skipped,
        }
        run_id = new_run_id()
        run_dir = self.results_dir / "runs" / run_id
        run_dir.mkdir(parents=True)
        run = Run(
            id=run_id,
            status="running",
            family=spec.family,
            model=spec.name,
            dataset=req.dataset,
            benchmark=bench.name,
            benchmark_version=bench.version,
            budget=req.budget,
            budget_images=budget_images,
            seed=req.seed,
            config=resolved,
            config_hash=config_hash({k: resolved[k] for k in ("model", "train", "eval")}),
            versions=package_versions(plugins, spec),
            git_commit=git_commit(),
            device=device.type,
            hardware=hardware(device),
            num_params=sum(p.numel() for p in model.parameters()),
            run_dir=str(run_dir),
        )
        with store.session() as s:
            s.add(run)
        return self._train_and_score(
            run, model, data, bench, metrics, train_cfg, eval_cfg, device, None, reporter, req.stop_after_steps
        )

    # -- resume ------------------------------------------------------------------------

    def resume(self, run_id: str, reporter: Reporter | None = None, device_name: str = "auto") -> Outcome:
        run = self.store.get_run(run_id)
        if run.status == "finished":
            raise GenbenchError(f"run {run.id} has finished; `genbench eval {run.id}` re-evaluates it")
        if run.status == "running" and utcnow() - run.heartbeat < STALE_HEARTBEAT:
            raise GenbenchError(f"run {run.id} is still running (heartbeat {run.heartbeat:%H:%M:%S} UTC)")
        ckpt_path = Path(run.run_dir) / "checkpoint.pt"
        state = load_checkpoint(ckpt_path)
        spec, bench, model, data, train_cfg, eval_cfg = self._rebuild(run, {})
        device = resolve_device(device_name)
        metrics, _ = metrics_for(self.plugins, bench, spec, data.info.shape)
        with self.store.session() as s:
            # Losses logged after the checkpoint are replayed by the resumed run.
            s.execute(delete(LossPoint).where(LossPoint.run_id == run.id, LossPoint.step > state["step"]))
            row = s.get(Run, run.id)
            row.status, row.message, row.heartbeat = "running", None, utcnow()
        run.status = "running"
        return self._train_and_score(run, model, data, bench, metrics, train_cfg, eval_cfg, device, state, reporter)

    # -- eval --------------------------------------------------------------------------

    def evaluate(
        self, run_id: str, sets: list[str], device_name: str = "auto", only: list[str] | None = None
    ) -> Outcome:
        """Score a finished run's final checkpoint again, e.g. with another sampler or more samples.

        ``only`` restricts scoring to those of the benchmark's metrics (e.g. ``probe-acc`` at
        another ``eval.labels``), so a cheap metric need not wait for the expensive ones."""
        run = self.store.get_run(run_id)
        if run.status != "finished":
            raise GenbenchError(f"run {run.id} is {run.status}: only finished runs are evaluated (resume it first)")
        parsed = parse_set(sets)
        if parsed["train"]:
            raise GenbenchError("train.* settings cannot change at evaluation: start a new run with `genbench run`")
        spec = self.plugins.models.get(run.model)
        allowed = eval_fields(model_class(spec).Config(**run.config["model"]))
        for key in parsed["model"]:
            if key not in allowed:
                kind = "an architecture/training" if key in run.config["model"] else "an unknown"
                raise GenbenchError(
                    f"'{key}' is {kind} setting of model '{run.model}'; at evaluation only "
                    f"{', '.join(sorted(allowed)) or 'eval.*'} may change"
                )
        spec, bench, model, data, _, eval_cfg = self._rebuild(run, parsed["model"], parsed["eval"])
        eval_cfg = resolve_labels(bench, eval_cfg)
        trained_labels = run.config["eval"].get("labels") or bench.labels()
        if model.uses_labelled_subset and eval_cfg.labels != trained_labels:
            raise GenbenchError(
                f"model '{run.model}' learnt its classifier from {trained_labels} labels at training; "
                f"start a new run with --set eval.labels={eval_cfg.labels}"
            )
        model.load_state_dict(load_checkpoint(Path(run.run_dir) / "checkpoint.pt")["model"])
        device = resolve_device(device_name)
        metrics, skipped = metrics_for(self.plugins, bench, spec, data.info.shape)
        if only:
            names = [m.spec.name for m in metrics]
            for name in only:
                if name not in names:
                    raise GenbenchError(f"--metric {name}: run {run.id} is scored on {', '.join(names)}")
            metrics = [m for m in metrics if m.spec.name in only]
        for name, why in skipped.items():
            self.notice(f"metric {name} skipped: {why}")
        scores = self._score(run, model, data, bench, metrics, eval_cfg, device)
        return Outcome(self.store.get_run(run.id), scores)

    def load_trained(self, run_id: str, settings: dict[str, str] | None = None) -> tuple[GenerativeModel, ImageData]:
        """A run's model with its final checkpoint loaded (eval-time ``settings`` applied) and its data."""
        run = self.store.get_run(run_id)
        _, _, model, data, _, _ = self._rebuild(run, settings or {})
        model.load_state_dict(load_checkpoint(Path(run.run_dir) / "checkpoint.pt")["model"])
        return model, data

    # -- shared ------------------------------------------------------------------------

    def _rebuild(
        self, run: Run, model_sets: dict[str, str], eval_sets: dict[str, str] | None = None
    ) -> tuple[ModelSpec, Benchmark, GenerativeModel, ImageData, TrainConfig, EvalConfig]:
        spec = self.plugins.models.get(run.model)
        bench = self.plugins.benchmark(run.benchmark)
        if bench.version != run.benchmark_version:
            raise GenbenchError(
                f"run {run.id} used benchmark '{bench.name}' v{run.benchmark_version}; v{bench.version} is installed"
            )
        cfg = apply_overrides(model_class(spec).Config(**run.config["model"]), model_sets)
        train_cfg = TrainConfig(**run.config["train"])
        eval_cfg = apply_overrides(EvalConfig(**run.config["eval"]), eval_sets or {}, prefix="eval.")
        data = load_dataset(run.dataset, run.config.get("data_dir"))
        seed_everything(run.seed)
        model = build_model(spec, data.info, cfg)
        return spec, bench, model, data, train_cfg, eval_cfg

    def _train_and_score(
        self,
        run: Run,
        model: GenerativeModel,
        data: ImageData,
        bench: Benchmark,
        metrics: list,
        train_cfg: TrainConfig,
        eval_cfg: EvalConfig,
        device: torch.device,
        resume: dict[str, Any] | None,
        reporter: Reporter | None,
        stop_after_steps: int = 0,
    ) -> Outcome:
        store = self.store
        run_dir = Path(run.run_dir)
        pending: list[LossPoint] = []

        def on_log(step: int, images: int, losses: dict[str, float]) -> None:
            for name, value in losses.items():
                if value == value and abs(value) != float("inf"):  # NaN/inf are reported, not stored
                    pending.append(LossPoint(run_id=run.id, step=step, images_seen=images, name=name, value=value))

        def on_checkpoint(step: int, images: int) -> None:
            with store.session() as s:
                s.add_all(pending)
                row = s.get(Run, run.id)
                row.steps, row.images_seen, row.heartbeat = step, images, utcnow()
                if not any(a.kind == "checkpoint" for a in row.artifacts):
                    s.add(Artifact(run_id=run.id, kind="checkpoint", path=str(run_dir / "checkpoint.pt")))
            pending.clear()

        started = time.perf_counter()
        result: TrainResult | None = None
        give_labelled(model, representation_context(bench, data, eval_cfg), data)
        try:
            result = train(
                model,
                data,
                train_cfg,
                budget_images=run.budget_images,
                seed=run.seed,
                device=device,
                checkpoint_path=run_dir / "checkpoint.pt",
                resume=resume,
                on_log=on_log,
                on_checkpoint=on_checkpoint,
                reporter=reporter,
                stop_after_steps=stop_after_steps,
            )
            status, message = result.status, result.message
        except KeyboardInterrupt:
            status, message = "interrupted", "interrupted; resume from the last checkpoint"
        except Exception as exc:
            status, message = "failed", f"{type(exc).__name__}: {exc}"
            self._finish(run.id, status, message, pending, None, time.perf_counter() - started)
            raise
        self._finish(run.id, status, message, pending, result, time.perf_counter() - started)
        history = self._loss_history(run.id)
        self._save_loss_curve(run, history)
        scores: list[Score] = []
        if status == "finished":
            warning = model.training_warning({k: [(step, v) for step, _, v in pts] for k, pts in history.items()})
            if warning:
                with store.session() as s:
                    s.get(Run, run.id).message = f"warning: {warning}"
            scores = self._score(run, model, data, bench, metrics, eval_cfg, device)
            grid = save_sample_grid(model, run_dir / "samples.png", device=device, seed=eval_cfg.seed) \
                if "sample" in model.capabilities else None  # fmt: skip
            if grid is not None:
                with store.session() as s:
                    s.add(Artifact(run_id=run.id, kind="samples", path=str(grid)))
        return Outcome(store.get_run(run.id), scores, result)

    def _finish(
        self,
        run_id: str,
        status: str,
        message: str,
        pending: list[LossPoint],
        result: TrainResult | None,
        wall: float,
    ) -> None:
        with self.store.session() as s:
            s.add_all(pending)
            row = s.get(Run, run_id)
            row.status, row.message, row.heartbeat = status, message or None, utcnow()
            row.wall_seconds = (row.wall_seconds or 0.0) + wall
            if result is not None:
                row.steps, row.images_seen = result.step, result.images_seen
                row.train_seconds = (row.train_seconds or 0.0) + result.step_seconds
        pending.clear()

    def _loss_history(self, run_id: str) -> dict[str, list[tuple[int, int, float]]]:
        """Every logged loss of a run: name -> [(step, images seen, interval mean)] in step order."""
        with self.store.session() as s:
            points = s.scalars(select(LossPoint).where(LossPoint.run_id == run_id).order_by(LossPoint.step)).all()
            history: dict[str, list[tuple[int, int, float]]] = {}
            for p in points:
                history.setdefault(p.name, []).append((p.step, p.images_seen, p.value))
        return history

    def _save_loss_curve(self, run: Run, history: dict[str, list[tuple[int, int, float]]]) -> None:
        series = {name: [(images, v) for _, images, v in pts] for name, pts in history.items()}
        if not series:
            return
        path = save_loss_curve(series, Path(run.run_dir) / "losses.png", f"{run.model} on {run.dataset} ({run.id})")
        with self.store.session() as s:
            if not s.scalars(select(Artifact).where(Artifact.run_id == run.id, Artifact.kind == "loss_curve")).first():
                s.add(Artifact(run_id=run.id, kind="loss_curve", path=str(path)))

    def _score(
        self,
        run: Run,
        model: GenerativeModel,
        data: ImageData,
        bench: Benchmark,
        metrics: list,
        eval_cfg: EvalConfig,
        device: torch.device,
    ) -> list[Score]:
        num_samples = eval_cfg.num_samples or bench.num_samples[run.budget]
        scores = evaluate(
            model,
            metrics,
            data,
            num_samples=num_samples,
            device=device,
            seed=eval_cfg.seed,
            batch_size=eval_cfg.batch_size,
            cache_dir=self.results_dir / "cache",
            representation=representation_context(bench, data, eval_cfg),
            anomaly=anomaly_context(bench, data, run.config.get("data_dir"), metrics),
        )
        with self.store.session() as s:
            for sc in scores:
                s.add(
                    MetricRecord(
                        run_id=run.id,
                        name=sc.name,
                        value=sc.value,
                        direction=sc.direction,
                        unit=sc.unit,
                        fingerprint=sc.fingerprint,
                        fingerprint_hash=sc.fingerprint_hash,
                        settings=sc.settings,
                        seconds=sc.seconds,
                    )
                )
        return scores


def default_results_dir() -> Path:
    return Path(os.environ.get("GENBENCH_RESULTS", "results"))
