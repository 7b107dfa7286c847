"""Protocols: run a model on a benchmark, resume an interrupted run, re-evaluate a stored one.

Everything that can be wrong with the user's input (names, settings, data, metrics,
folders, database) is checked before a run row is written, so a bad command stores nothing.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import subprocess
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import torch
from sqlalchemy import delete, select

from genbench.api.dataset import DataInfo, ImageData
from genbench.api.model import GenerativeModel, eval_fields
from genbench.benchmarks import Benchmark
from genbench.config import MAX_SEED, EvalConfig, TrainConfig, apply_overrides, check_settings, config_hash, parse_set
from genbench.data import load_dataset
from genbench.engine import distributed
from genbench.engine.build import build_model, model_class, resolve_run_configs
from genbench.engine.checkpoint import load_checkpoint
from genbench.engine.device import hardware, resolve_device, seed_everything, set_threads
from genbench.engine.evaluate import Score, evaluate, grouped_reasons, metrics_for
from genbench.engine.protocols import anomaly_context, give_labelled, representation_context, resolve_labels
from genbench.engine.trainer import Reporter, TrainResult, train
from genbench.errors import GenbenchError, PluginFault, blame
from genbench.plugins import Plugins, get_plugins
from genbench.report.images import save_loss_curve, save_sample_grid
from genbench.specs import ModelSpec
from genbench.store import Store, default_db_url
from genbench.store.db import STALE_AFTER, is_dead, new_run_id, process_owner
from genbench.store.heartbeat import Heartbeat
from genbench.store.schema import LIVE_STATUSES, Artifact, LossPoint, MetricRecord, Run, utcnow

STALE_HEARTBEAT = STALE_AFTER  # a "running" run silent this long is taken as dead (old name)
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def _disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in DISK_FULL:
        return True
    return "disk is full" in str(getattr(exc, "orig", exc))  # SQLite's SQLITE_FULL


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
    threads: int = 0  # torch CPU threads; 0 = engine.device.default_threads() (recorded with the run)


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
    """The commit of the genbench checkout that runs, wherever the command was started from."""
    here = Path(__file__).resolve().parent  # a source checkout (editable install) knows its commit
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=here)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "-uno"], capture_output=True, text=True, timeout=5, cwd=here
        )
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
        progress: Callable[[str, int, int], None] | None = None,
        phase: Callable[[str], None] | None = None,
    ):
        self.results_dir = Path(results_dir)
        self.notice = notice or (lambda message: None)  # the CLI shows these before training
        self.progress = progress  # progress(task, done, total) from evaluation's long steps
        self.phase = phase or (lambda message: None)  # "training done, evaluating ..." announcements
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
        if not 0 <= req.seed <= MAX_SEED:
            raise GenbenchError(f"--seed {req.seed} is out of range: it must be between 0 and {MAX_SEED}")
        sets = parse_set(req.sets)
        info = DataInfo(dspec.name, dspec.shape, dspec.num_classes)
        origin = plugins.origin(plugins.models.plugin_of(spec.name))
        with blame(origin, f"loading model '{spec.name}' ({spec.target})"):
            train_cfg, eval_cfg, model_cfg = resolve_run_configs(spec, bench, info, sets)
        check_settings(train_cfg, prefix="train.")
        check_settings(eval_cfg, prefix="eval.")
        check_settings(model_cfg)
        device = distributed.setup(resolve_device(req.device), batch_size=train_cfg.batch_size)
        ensure_writable(self.results_dir)
        threads = set_threads(req.threads)
        data = load_dataset(req.dataset, req.data_dir)  # missing data is said before missing metric weights
        metrics, skipped = metrics_for(plugins, bench, spec, dspec.shape)
        if not distributed.is_main():  # torchrun's other ranks train beside rank 0 and store nothing
            seed_everything(req.seed)
            model = build_model(spec, data.info, model_cfg)
            return distributed.follow_run(req, model, data, bench, train_cfg, eval_cfg, metrics, device, budget_images)
        for line in grouped_reasons(skipped):
            self.notice(line)
        store = self.store
        store.require_writable()
        representation_context(bench, data, eval_cfg)  # a label budget the data cannot meet fails here
        anomaly_context(bench, data, req.data_dir, metrics)  # so does a missing out-of-distribution set

        seed_everything(req.seed)
        with blame(origin, f"building model '{spec.name}'"):
            model = build_model(spec, data.info, model_cfg)
        resolved = {
            "model": dataclasses.asdict(model_cfg),
            "train": dataclasses.asdict(train_cfg),
            "eval": dataclasses.asdict(eval_cfg),
            "data_dir": req.data_dir,
            "skipped_metrics": skipped,
            "threads": threads,  # not in the config hash: it changes speed, not what is trained
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
            owner=process_owner(),
            heartbeat=utcnow(),
        )
        with store.session() as s:
            s.add(run)
        return self._train_and_score(
            run, model, data, bench, metrics, train_cfg, eval_cfg, device, None, reporter, req.stop_after_steps
        )

    # -- resume ------------------------------------------------------------------------

    def resume(self, run_id: str, reporter: Reporter | None = None, device_name: str = "auto") -> Outcome:
        """Continue a run from its last checkpoint: one killed or interrupted while training trains
        on, one killed while evaluating is evaluated. Never while another process holds the run."""
        if not distributed.is_main():  # torchrun's other ranks: rank 0 shares the run and its checkpoint
            return distributed.follow_resume(self, device_name)
        self.store.require_writable()
        run = self.store.get_run(run_id)
        if run.status == "finished":
            raise GenbenchError(f"run {run.id} has finished; `genbench eval {run.id}` re-evaluates it")
        if run.status in LIVE_STATUSES and not is_dead(run):
            raise GenbenchError(
                f"run {run.id} is still {run.status} (heartbeat {run.heartbeat:%H:%M:%S} UTC, process "
                f"{run.owner or '?'}): a run silent for {int(STALE_AFTER.total_seconds())} s can be resumed"
            )
        ckpt_path = Path(run.run_dir) / "checkpoint.pt"
        state = load_checkpoint(ckpt_path)
        set_threads(run.config.get("threads"))  # as the run was started with
        spec, bench, model, data, train_cfg, eval_cfg = self._rebuild(run, {})
        device = distributed.setup(resolve_device(device_name), batch_size=train_cfg.batch_size)
        metrics, _ = metrics_for(self.plugins, bench, spec, data.info.shape)
        owner = process_owner()
        if not self.store.claim(run.id, owner):
            raise GenbenchError(f"run {run.id} was just resumed by another process; `genbench runs` shows it")
        with self.store.session() as s:
            # Losses logged after the checkpoint are replayed by the resumed run; metrics of an
            # evaluation that was cut short are computed again.
            s.execute(delete(LossPoint).where(LossPoint.run_id == run.id, LossPoint.step > state["step"]))
            s.execute(delete(MetricRecord).where(MetricRecord.run_id == run.id))
        run.status, run.owner = "running", owner
        distributed.share_run(run)
        return self._train_and_score(run, model, data, bench, metrics, train_cfg, eval_cfg, device, state, reporter)

    # -- eval --------------------------------------------------------------------------

    def evaluate(
        self, run_id: str, sets: list[str], device_name: str = "auto", only: list[str] | None = None
    ) -> Outcome:
        """Score a finished run's final checkpoint again, e.g. with another sampler or more samples.

        ``only`` restricts scoring to those of the benchmark's metrics (e.g. ``probe-acc`` at
        another ``eval.labels``), so a cheap metric need not wait for the expensive ones."""
        distributed.single_process("genbench eval")
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
        self.store.require_writable()
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
        for line in grouped_reasons(skipped):
            self.notice(line)
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
        check_settings(cfg)
        check_settings(train_cfg, prefix="train.")
        check_settings(eval_cfg, prefix="eval.")
        data = load_dataset(run.dataset, run.config.get("data_dir"))
        seed_everything(run.seed)
        with blame(self.plugins.origin(self.plugins.models.plugin_of(spec.name)), f"building model '{spec.name}'"):
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
        owner = run.owner or ""
        pending: list[LossPoint] = []

        def on_log(step: int, images: int, losses: dict[str, float]) -> None:
            for name, value in losses.items():
                if value == value and abs(value) != float("inf"):  # NaN/inf are reported, not stored
                    pending.append(LossPoint(run_id=run.id, step=step, images_seen=images, name=name, value=value))
            self._hook("genbench_losses_logged", run=run, step=step, images_seen=images, losses=dict(losses))

        def on_checkpoint(step: int, images: int) -> None:
            with store.session() as s:
                s.add_all(pending)
                row = s.get(Run, run.id)
                row.steps, row.images_seen, row.heartbeat = step, images, utcnow()
                if not any(a.kind == "checkpoint" for a in row.artifacts):
                    s.add(Artifact(run_id=run.id, kind="checkpoint", path=str(run_dir / "checkpoint.pt")))
            pending.clear()

        self._hook("genbench_run_started", run=run, resumed=resume is not None)
        started = time.perf_counter()
        result: TrainResult | None = None
        give_labelled(model, representation_context(bench, data, eval_cfg), data)
        scores: list[Score] = []
        with Heartbeat(store, run.id, owner) as beat:
            stage = "training"
            try:
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
                        why_stop=beat.why_stop,
                    )
                    status, message = result.status, result.message
                except KeyboardInterrupt:
                    status, message = "interrupted", "interrupted; resume from the last checkpoint"
                # "finished" is written only with the metrics: until then the run is evaluating.
                stage = "evaluating"
                live = status == "finished"
                self._finish(run.id, owner, "evaluating" if live else status, message, pending, result,
                             time.perf_counter() - started, release=not live)  # fmt: skip
                started = time.perf_counter()
                history = self._loss_history(run.id)
                self._save_loss_curve(run, history)
                if live:
                    warning = model.training_warning(
                        {k: [(step, v) for step, _, v in pts] for k, pts in history.items()}
                    )
                    if warning:
                        with store.session() as s:
                            s.get(Run, run.id).message = f"warning: {warning}"
                    self.phase(f"training done; evaluating {', '.join(m.spec.name for m in metrics)}")
                    scores = self._score(run, model, data, bench, metrics, eval_cfg, device, finish=owner,
                                         wall=lambda: time.perf_counter() - started)  # fmt: skip
            except KeyboardInterrupt:  # a Ctrl-C while evaluating: resume evaluates again
                msg = f"interrupted while {stage}; `genbench resume {run.id}` evaluates it"
                self._finish(run.id, owner, "interrupted", msg, pending, None, time.perf_counter() - started)
            except Exception as exc:
                if beat.lost:
                    raise  # another process owns the run now: its row is not ours to write
                if _disk_full(exc):
                    msg = (f"disk full while {stage} ({getattr(exc, 'filename', None) or run_dir}): free space, "
                           f"then `genbench resume {run.id}` continues from the last checkpoint")  # fmt: skip
                    self._finish_quietly(run.id, owner, msg, pending, time.perf_counter() - started)
                    self._announce_finished(run.id)
                    raise GenbenchError(msg) from None
                message = f"{type(exc).__name__}: {exc}".splitlines()[0]
                self._finish_quietly(run.id, owner, message, pending, time.perf_counter() - started)
                self._announce_finished(run.id)
                if isinstance(exc, (GenbenchError, PluginFault)):
                    raise
                origin = self.plugins.origin(self.plugins.models.plugin_of(run.model))
                raise PluginFault(
                    f"plugin {origin} failed while {stage} model '{run.model}': {message} "
                    f"(run {run.id} stored as failed)"
                ) from exc
        final = store.get_run(run.id)
        self._hook("genbench_run_finished", run=final)
        return Outcome(final, scores, result)

    def _announce_finished(self, run_id: str) -> None:
        """run_finished for a run that failed; the store may refuse even a read on a full disk."""
        try:
            final = self.store.get_run(run_id)
        except Exception:
            return
        self._hook("genbench_run_finished", run=final)

    def _hook(self, name: str, **kwargs: Any) -> None:
        """Call a lifecycle hook; a tracker's failure is a note, never the end of the run."""
        hook = getattr(self.plugins.manager.hook, name)
        try:
            hook(**kwargs)
        except Exception as exc:
            codes = {f.f_code for f, _ in traceback.walk_tb(exc.__traceback__)}
            culprit = next((i.plugin_name for i in hook.get_hookimpls() if i.function.__code__ in codes), "a plugin")
            self.notice(f"{name} failed in plugin '{culprit}': {type(exc).__name__}: {exc}")

    def _finish(
        self,
        run_id: str,
        owner: str,
        status: str,
        message: str,
        pending: list[LossPoint],
        result: TrainResult | None,
        wall: float,
        release: bool = True,
    ) -> None:
        """Store the session's end: status, message, pending losses, timings; ``release`` frees the run."""
        with self.store.session() as s:
            s.add_all(pending)
            row = s.get(Run, run_id)
            row.status, row.message, row.heartbeat = status, message or None, utcnow()
            row.wall_seconds = (row.wall_seconds or 0.0) + wall
            if release:
                row.owner = None
            if result is not None:
                row.steps, row.images_seen = result.step, result.images_seen
                row.train_seconds = (row.train_seconds or 0.0) + result.step_seconds
        pending.clear()

    def _finish_quietly(self, run_id: str, owner: str, message: str, pending: list[LossPoint], wall: float) -> None:
        """Mark the run failed if the database still takes writes (a full disk may refuse them too:
        then the heartbeat stops and the run shows as dead, which resume handles the same way)."""
        try:
            self._finish(run_id, owner, "failed", message, pending, None, wall)
        except Exception:
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
        finish: str | None = None,
        wall: Callable[[], float] | None = None,
    ) -> list[Score]:
        """Evaluate and store the metrics. ``finish`` (the owner): in the same transaction, save the
        sample grid's artifact and mark the run finished, so a finished run always has its metrics."""
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
            progress=self.progress,
            origin=lambda name: self.plugins.origin(self.plugins.metrics.plugin_of(name)),
            reference_split=bench.reference_split,
            reference_count=bench.reference_count,
            test_count=bench.test_images.get(run.budget, 0),
            representation=representation_context(bench, data, eval_cfg),
            anomaly=anomaly_context(bench, data, run.config.get("data_dir"), metrics),
        )
        grid = None
        if finish is not None and "sample" in model.capabilities:
            grid = save_sample_grid(
                model, Path(run.run_dir) / "samples.png", device=device, seed=eval_cfg.seed, title=_grid_title(run)
            )
        elif finish is not None and "translate" in model.capabilities and data.has_domain_b:
            from genbench.report.translation import save_translation_grid

            grid = save_translation_grid(model, data, Path(run.run_dir) / "translations.png", device=device)
        with self.store.session() as s:
            if finish is not None:
                row = s.get(Run, run.id)
                row.status, row.owner, row.heartbeat = "finished", None, utcnow()
                row.wall_seconds = (row.wall_seconds or 0.0) + (wall() if wall else 0.0)
                if grid is not None:
                    s.add(Artifact(run_id=run.id, kind="samples", path=str(grid)))
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
        self._hook("genbench_evaluated", run=run, scores=scores)
        return scores


def _grid_title(run: Run) -> str:
    title = f"{run.family}/{run.model} on {run.dataset} - run {run.id}"
    title += f" - budget {run.budget} ({run.budget_images:,} images)"
    return title + (" - smoke: a plumbing check" if run.budget == "smoke" else "")


def default_results_dir() -> Path:
    return Path(os.environ.get("GENBENCH_RESULTS", "results"))
