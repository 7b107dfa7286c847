"""Protocols: run a model on a benchmark, resume an interrupted run, re-evaluate a stored one.

Everything that can be wrong with the user's input (names, settings, data, metrics,
folders, database) is checked before a run row is written, so a bad command stores nothing.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import socket
import subprocess
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, NoReturn

import torch

from genbench.api.dataset import DataInfo, ImageData
from genbench.api.metric import Metric
from genbench.api.model import GenerativeModel, eval_fields
from genbench.benchmarks import Benchmark
from genbench.config import MAX_SEED, EvalConfig, TrainConfig, apply_overrides, check_settings, config_hash, parse_set
from genbench.data import load_dataset
from genbench.engine.build import build_model, model_class, resolve_run_configs
from genbench.engine.checkpoint import load_checkpoint
from genbench.engine.device import hardware, resolve_device, seed_everything, set_threads
from genbench.engine.distribution import ONE_PROCESS, PEER_LOST, Distribution
from genbench.engine.evaluate import Score, evaluate, grouped_reasons, metrics_for
from genbench.engine.protocols import (
    anomaly_context,
    check_degradation,
    give_degradation,
    give_labelled,
    representation_context,
    resolve_labels,
    restoration_for,
)
from genbench.engine.session import RunSession
from genbench.engine.trainer import Reporter, TrainResult, train
from genbench.errors import GenbenchError, PluginFault, ProcessLost, blame
from genbench.plugins import Plugins, get_plugins
from genbench.specs import ModelSpec
from genbench.store import Store, default_db_url
from genbench.store.db import STALE_AFTER, is_dead, new_run_id, process_owner
from genbench.store.heartbeat import Heartbeat
from genbench.store.runs import RunWriter, stored_path
from genbench.store.schema import LIVE_STATUSES, Run, utcnow

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
    metrics: list[str] = field(default_factory=list)  # score only these (`run --metric`); [] = all


@dataclass(kw_only=True)
class RunPlan:
    """A run request resolved and checked: what will be trained, on what, scored how. Nothing is stored yet."""

    spec: ModelSpec
    bench: Benchmark
    data: ImageData
    metrics: list[Metric]
    skipped: dict[str, str]  # optional metrics that cannot run here -> why
    train_cfg: TrainConfig
    eval_cfg: EvalConfig
    model_cfg: Any
    device: torch.device
    threads: int
    origin: str  # the model's plugin, for messages about a fault inside it


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
    """Runs protocols against one results folder and one store.

    ``dist`` is how the processes of a run share its work: one process by default; under torchrun
    the CLI passes :class:`genbench.engine.distributed.Torchrun`, which also runs the other ranks'
    side of a run around this runner (this process's side is the same code as one process's).
    """

    def __init__(
        self,
        results_dir: str | Path = "results",
        db_url: str | None = None,
        plugins: Plugins | None = None,
        notice: Callable[[str], None] | None = None,
        progress: Callable[[str, int, int], None] | None = None,
        phase: Callable[[str], None] | None = None,
        dist: Distribution | None = None,
    ):
        self.results_dir = Path(results_dir)
        self.notice = notice or (lambda message: None)  # the CLI shows these before training
        self.progress = progress  # progress(task, done, total) from evaluation's long steps
        self.phase = phase or (lambda message: None)  # "training done, evaluating ..." announcements
        self.plugins = plugins or get_plugins()
        self.dist = dist or ONE_PROCESS
        self.db_url = db_url or default_db_url(self.results_dir)
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store(self.db_url)
        return self._store

    # -- run ---------------------------------------------------------------------------

    def run(self, req: RunRequest, reporter: Reporter | None = None) -> Outcome:
        """Check the request (nothing is written until all of it holds), store a new run, train and score it."""
        plan = self._check(req)
        seed_everything(req.seed)
        with blame(plan.origin, f"building model '{plan.spec.name}'"):
            model = build_model(plan.spec, plan.data.info, plan.model_cfg)
        run = self._new_run(req, plan, model)
        writer = self._writer(run.id)
        writer.create(run)
        return self._run_session(
            RunSession(
                run=run, model=model, data=plan.data, bench=plan.bench, metrics=plan.metrics,
                train_cfg=plan.train_cfg, eval_cfg=plan.eval_cfg, device=plan.device, writer=writer,
                reporter=reporter, stop_after_steps=req.stop_after_steps,
            )
        )  # fmt: skip

    def _check(self, req: RunRequest) -> RunPlan:
        """Resolve and check everything a run needs (names, settings, data, metrics, folders, database)."""
        plan = self._plan(req)
        for line in grouped_reasons(plan.skipped):
            self.notice(line)
        self.store.require_writable()
        representation_context(plan.bench, plan.data, plan.eval_cfg)  # a label budget the data cannot meet fails here
        anomaly_context(plan.bench, plan.data, req.data_dir, plan.metrics)  # so does a missing out-of-distribution set
        check_degradation(plan.bench, plan.data)  # and an operator the images cannot take
        return plan

    def _plan(self, req: RunRequest) -> RunPlan:
        """Resolve a request and check what every process of a run needs (torchrun's other ranks
        stop here: they store nothing); :meth:`_check` adds what the process that writes needs."""
        plugins = self.plugins
        spec = plugins.resolve_model(req.family, req.model)
        dspec = plugins.datasets.get(req.dataset)
        bench = plugins.benchmark(req.benchmark) if req.benchmark else plugins.benchmark_for(req.dataset)
        if bench.dataset != req.dataset:
            raise GenbenchError(f"benchmark '{bench.name}' is on dataset '{bench.dataset}', not '{req.dataset}'")
        bench.images(req.budget)  # an unknown budget fails here
        if not 0 <= req.seed <= MAX_SEED:
            raise GenbenchError(f"--seed {req.seed} is out of range: it must be between 0 and {MAX_SEED}")
        sets = parse_set(req.sets)
        info = DataInfo(dspec.name, dspec.shape, dspec.num_classes)
        origin = plugins.origin(plugins.models.plugin_of(spec.name))
        with blame(origin, f"loading model '{spec.name}' ({spec.target})"):
            train_cfg, eval_cfg, model_cfg = resolve_run_configs(spec, bench, info, sets, req.budget)
        check_settings(train_cfg, prefix="train.")
        check_settings(eval_cfg, prefix="eval.")
        check_settings(model_cfg)
        device = self.dist.setup(resolve_device(req.device), batch_size=train_cfg.batch_size)
        ensure_writable(self.results_dir)
        threads = set_threads(req.threads)
        data = load_dataset(req.dataset, req.data_dir)  # missing data is said before missing metric weights
        metrics, skipped = metrics_for(plugins, bench, spec, dspec.shape, req.metrics)
        return RunPlan(
            spec=spec, bench=bench, data=data, metrics=metrics, skipped=skipped, train_cfg=train_cfg,
            eval_cfg=eval_cfg, model_cfg=model_cfg, device=device, threads=threads, origin=origin,
        )  # fmt: skip

    def _new_run(self, req: RunRequest, plan: RunPlan, model: GenerativeModel) -> Run:
        """The row of a new run (not stored yet), owned by this process, and its folder."""
        resolved = {
            "model": dataclasses.asdict(plan.model_cfg),
            "train": dataclasses.asdict(plan.train_cfg),
            "eval": dataclasses.asdict(plan.eval_cfg),
            "data_dir": req.data_dir,
            "skipped_metrics": plan.skipped,
            "only_metrics": req.metrics or None,  # `run --metric`: a resume scores the same ones
            "threads": plan.threads,  # not in the config hash: it changes speed, not what is trained
        }
        if model.pretrained:  # the weights' origin, pinned (outside the hash: the settings name it)
            resolved["source"] = model.source()
        run_id = new_run_id()
        run_dir = self.results_dir / "runs" / run_id
        run_dir.mkdir(parents=True)
        return Run(
            id=run_id,
            status="running",
            family=plan.spec.family,
            model=plan.spec.name,
            dataset=req.dataset,
            benchmark=plan.bench.name,
            benchmark_version=plan.bench.version,
            budget=req.budget,
            budget_images=plan.bench.images(req.budget),
            seed=req.seed,
            config=resolved,
            config_hash=config_hash({k: resolved[k] for k in ("model", "train", "eval")}),
            versions=package_versions(self.plugins, plan.spec),
            git_commit=git_commit(),
            device=plan.device.type,
            hardware=hardware(plan.device),
            num_params=sum(p.numel() for p in model.parameters()),
            run_dir=str(run_dir.resolve()),  # absolute: any folder's show, report and resume find it
            owner=process_owner(),
            heartbeat=utcnow(),
            kind="pretrained" if model.pretrained else "trained",
            provenance={"host": socket.gethostname()},  # travels with `genbench export`, like git_commit
        )

    # -- resume ------------------------------------------------------------------------

    def resume(self, run_id: str, reporter: Reporter | None = None, device_name: str = "auto") -> Outcome:
        """Continue a run from its last checkpoint: one killed or interrupted while training trains
        on, one killed while evaluating is evaluated. Never while another process holds the run."""
        self.store.require_writable()
        run = self._stored_run(run_id)
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
        device = self.dist.setup(resolve_device(device_name), batch_size=train_cfg.batch_size)
        metrics, _ = metrics_for(self.plugins, bench, spec, data.info.shape, run.config.get("only_metrics"))
        owner = process_owner()
        if not self.store.claim(run.id, owner):
            raise GenbenchError(f"run {run.id} was just resumed by another process; `genbench runs` shows it")
        writer = self._writer(run.id)
        writer.restart(after_step=state["step"])
        run = self._stored_run(run.id)
        self.dist.share_run(run)
        return self._run_session(
            RunSession(
                run=run, model=model, data=data, bench=bench, metrics=metrics, train_cfg=train_cfg,
                eval_cfg=eval_cfg, device=device, writer=writer, resume=state, reporter=reporter,
            )
        )  # fmt: skip

    # -- eval --------------------------------------------------------------------------

    def evaluate(
        self,
        run_id: str,
        sets: list[str],
        device_name: str = "auto",
        only: list[str] | None = None,
        threads: int = 0,
    ) -> Outcome:
        """Score a finished run's final checkpoint again, e.g. with another sampler or more samples.

        ``only`` restricts scoring to those of the benchmark's metrics (e.g. ``probe-acc`` at
        another ``eval.labels``), so a cheap metric need not wait for the expensive ones.
        ``threads``: CPU threads for torch; 0 as the run was started with."""
        self.dist.single_process("genbench eval")
        run = self._stored_run(run_id)
        set_threads(threads or run.config.get("threads"))
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
        spec, bench, model, data, train_cfg, eval_cfg = self._rebuild(run, parsed["model"], parsed["eval"])
        eval_cfg = resolve_labels(bench, eval_cfg)
        trained_labels = run.config["eval"].get("labels") or bench.labels()
        if model.uses_labelled_subset and eval_cfg.labels != trained_labels:
            raise GenbenchError(
                f"model '{run.model}' learnt its classifier from {trained_labels} labels at training; "
                f"start a new run with --set eval.labels={eval_cfg.labels}"
            )
        if run.kind != "pretrained":  # a pretrained model loads its own weights when built
            model.load_state_dict(load_checkpoint(Path(run.run_dir) / "checkpoint.pt")["model"])
        device = resolve_device(device_name)
        metrics, skipped = metrics_for(self.plugins, bench, spec, data.info.shape)
        if only:
            names = [m.spec.name for m in metrics]
            for name in only:
                if name not in names:
                    raise GenbenchError(f"--metric {name}: run {run.id} is scored on {', '.join(names)}")
            metrics = [m for m in metrics if m.spec.name in only]
        elif parsed["eval"] and not parsed["model"]:
            metrics = self._depending(run, bench, eval_cfg, metrics)
        for line in grouped_reasons(skipped):
            self.notice(line)
        session = RunSession(
            run=run, model=model, data=data, bench=bench, metrics=metrics, train_cfg=train_cfg, eval_cfg=eval_cfg,
            device=device, writer=self._writer(run.id), status=run.status,
        )  # fmt: skip
        session.scores = self._score(session)
        self._hook("genbench_evaluated", run=run, scores=session.scores, session=session)
        session.writer.add_scores(session.scores, session.artifacts)
        return Outcome(self.store.get_run(run.id), session.scores)

    def _depending(self, run: Run, bench: Benchmark, eval_cfg: EvalConfig, metrics: list[Metric]) -> list[Metric]:
        """The metrics an ``eval.*`` change reaches (:attr:`Metric.reads`); the others' stored values stand."""
        before = resolve_labels(bench, EvalConfig(**run.config["eval"]))
        fields = dataclasses.fields(EvalConfig)
        changed = {f.name for f in fields if getattr(before, f.name) != getattr(eval_cfg, f.name)}
        if not changed:
            return metrics  # the same settings again: a plain re-evaluation of everything
        keep = [m for m in metrics if m.reads is None or m.reads & changed]
        names = ", ".join(f"eval.{k}" for k in sorted(changed))
        if not keep:
            raise GenbenchError(
                f"{names} changes none of run {run.id}'s metrics ({', '.join(m.spec.name for m in metrics)}): "
                "nothing to recompute"
            )
        if len(keep) < len(metrics):
            self.notice(
                f"{names} changes only {', '.join(m.spec.name for m in keep)}; the other values of run {run.id} "
                "stand (pass --metric to recompute one anyway)"
            )
        return keep

    def load_trained(self, run_id: str, settings: dict[str, str] | None = None) -> tuple[GenerativeModel, ImageData]:
        """A run's model with its final checkpoint loaded (eval-time ``settings`` applied) and its data."""
        run = self._stored_run(run_id)
        _, _, model, data, _, _ = self._rebuild(run, settings or {})
        if run.kind != "pretrained":
            model.load_state_dict(load_checkpoint(Path(run.run_dir) / "checkpoint.pt")["model"])
        return model, data

    # -- shared ------------------------------------------------------------------------

    def _stored_run(self, run_id: str) -> Run:
        """A stored run, its folder made absolute (rows from before absolute paths: under results_dir)."""
        run = self.store.get_run(run_id)
        run.run_dir = str(stored_path(run.run_dir, run.id, self.results_dir))
        return run

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

    def _writer(self, run_id: str) -> RunWriter:
        """The writer a session stores through (only the process that writes builds sessions: under
        torchrun the other ranks follow the run through :class:`genbench.engine.distributed.Torchrun`)."""
        return RunWriter(self.store, run_id)

    def _run_session(self, s: RunSession) -> Outcome:
        """prepare, train, evaluate, finish; a Ctrl-C or a fault in any phase is stored before it is reported."""
        with Heartbeat(self.store, s.run.id, s.run.owner or "") as beat:
            try:
                self._prepare(s)
                self._train(s, beat.why_stop)
                if s.status == "evaluating":  # trained to the budget
                    self._evaluate(s)
                    self._finish(s)
            except KeyboardInterrupt:  # a Ctrl-C while evaluating: resume evaluates again
                s.status = "interrupted"
                msg = f"interrupted while {s.stage}; `genbench resume {s.run.id}` evaluates it"
                s.writer.stop("interrupted", msg, wall=s.lap())
            except Exception as exc:
                if beat.lost:
                    raise  # another process owns the run now: its row is not ours to write
                self._fail(s, exc)
        self._announce_end(s)
        return Outcome(self.store.get_run(s.run.id), s.scores, s.result)

    def _prepare(self, s: RunSession) -> None:
        """The run's row is stored (new) or restarted (resumed): announce it, give the model its labelled subset."""
        self._hook("genbench_run_started", run=s.run, resumed=s.resumed, session=s)
        give_labelled(s.model, representation_context(s.bench, s.data, s.eval_cfg), s.data)
        give_degradation(s.model, s.bench)

    def _train(self, s: RunSession, why_stop: Callable[[], str | None]) -> None:
        """Train to the budget or until stopped, then store how training ended: "evaluating" when it
        reached the budget ("finished" is written only with the metrics), else the final status."""

        def on_log(step: int, images: int, losses: dict[str, float]) -> None:
            s.writer.log_losses(step, images, losses)
            self._hook("genbench_losses_logged", run=s.run, step=step, images_seen=images, losses=dict(losses),
                       session=s)  # fmt: skip

        if s.model.pretrained:  # weights from elsewhere: nothing to train, no checkpoint
            s.result = TrainResult("finished", 0, 0, 0.0, 0.0)
            s.stage = s.status = "evaluating"
            s.writer.stop(s.status, "", result=s.result, wall=s.lap(), release=False)
            s.history = {}
            return
        checkpoint = s.run_dir / "checkpoint.pt"
        try:
            s.result = train(s.model, s.data, s.train_cfg, budget_images=s.run.budget_images, seed=s.run.seed,
                             device=s.device, checkpoint_path=checkpoint, resume=s.resume, on_log=on_log,
                             on_checkpoint=lambda step, images: s.writer.checkpointed(step, images, checkpoint),
                             reporter=s.reporter, stop_after_steps=s.stop_after_steps, why_stop=why_stop,
                             dist=self.dist)  # fmt: skip
            status, message = s.result.status, s.result.message
        except KeyboardInterrupt:
            status, message = "interrupted", "interrupted; resume from the last checkpoint"
        s.stage = "evaluating"
        s.status = "evaluating" if status == "finished" else status
        s.writer.stop(s.status, message, result=s.result, wall=s.lap(), release=s.status != "evaluating")
        s.history = s.writer.loss_history()

    def _evaluate(self, s: RunSession) -> None:
        """Score the trained model, then announce the scores (the default plugin draws the sample grid)."""
        warning = s.model.training_warning({k: [(step, v) for step, _, v in pts] for k, pts in s.history.items()})
        if warning:
            s.writer.warn(f"warning: {warning}")
        self.phase(f"training done; evaluating {', '.join(m.spec.name for m in s.metrics)}")
        s.scores = self._score(s)
        self._hook("genbench_evaluated", run=s.run, scores=s.scores, session=s)

    def _finish(self, s: RunSession) -> None:
        """Store the metrics, the artifacts made so far and "finished" in one transaction."""
        s.writer.finish(s.scores, s.artifacts, wall=s.lap())
        s.status = "finished"

    def _fail(self, s: RunSession, exc: Exception) -> NoReturn:
        """Store the run as failed, announce it, and raise one line: a full disk says how to go on,
        a fault in plugin code names the model's plugin."""
        run = s.run
        if _disk_full(exc):
            message = (f"disk full while {s.stage} ({getattr(exc, 'filename', None) or s.run_dir}): free space, "
                       f"then `genbench resume {run.id}` continues from the last checkpoint")  # fmt: skip
        elif self.dist.peer_lost(exc):
            message = f"{PEER_LOST}; here: {type(exc).__name__}: {exc}".splitlines()[0]
        else:
            message = f"{type(exc).__name__}: {exc}".splitlines()[0]
        s.status = "failed"
        s.writer.fail(message, wall=s.lap())
        self._announce_end(s)
        if _disk_full(exc):
            raise GenbenchError(message) from None
        if isinstance(exc, (GenbenchError, PluginFault)):
            raise exc
        if self.dist.peer_lost(exc):
            raise ProcessLost(
                f"{PEER_LOST}; run {run.id} stored as failed: "
                f"`genbench resume {run.id}` continues from its last checkpoint"
            ) from exc
        origin = self.plugins.origin(self.plugins.models.plugin_of(run.model))
        raise PluginFault(
            f"plugin {origin} failed while {s.stage} model '{run.model}': {message} (run {run.id} stored as failed)"
        ) from exc

    def _announce_end(self, s: RunSession) -> None:
        """run_finished with the stored row, then store the files plugins added at it (the loss curve).
        A failed run on a full disk may refuse even a read: then nothing is announced."""
        try:
            final = self.store.get_run(s.run.id)
        except Exception:
            if s.status == "failed":
                return
            raise
        self._hook("genbench_run_finished", run=final, session=s)
        try:
            s.writer.add_artifacts(s.artifacts)
        except Exception as exc:
            if s.status != "failed":  # the run is stored as it ended; only its pictures are missing
                self.notice(f"run {final.id}: its artifacts could not be stored: {type(exc).__name__}: {exc}")

    def _hook(self, name: str, **kwargs: Any) -> None:
        """Call a lifecycle hook; a tracker's failure is a note, never the end of the run."""
        hook = getattr(self.plugins.manager.hook, name)
        try:
            hook(**kwargs)
        except Exception as exc:
            codes = {f.f_code for f, _ in traceback.walk_tb(exc.__traceback__)}
            culprit = next((i.plugin_name for i in hook.get_hookimpls() if i.function.__code__ in codes), "a plugin")
            self.notice(f"{name} failed in plugin '{culprit}': {type(exc).__name__}: {exc}")

    def _score(self, s: RunSession) -> list[Score]:
        """Evaluate the session's model on its metrics (nothing is stored here)."""
        run, bench, eval_cfg = s.run, s.bench, s.eval_cfg
        return evaluate(
            s.model,
            s.metrics,
            s.data,
            num_samples=eval_cfg.num_samples or bench.num_samples[run.budget],
            device=s.device,
            seed=eval_cfg.seed,
            batch_size=eval_cfg.batch_size,
            cache_dir=self.results_dir / "cache",
            progress=self.progress,
            origin=lambda name: self.plugins.origin(self.plugins.metrics.plugin_of(name)),
            reference_split=bench.reference_split,
            reference_count=bench.reference_count,
            test_count=bench.test_images.get(run.budget, 0),
            probe_count=bench.probe_images.get(run.budget, 0),
            recon_count=bench.recon_images.get(run.budget, 0),
            representation=representation_context(bench, s.data, eval_cfg),
            anomaly=anomaly_context(bench, s.data, run.config.get("data_dir"), s.metrics),
            restoration=restoration_for(bench, s.data, run.budget, s.metrics),
            dist=self.dist,
        )


def default_results_dir() -> Path:
    return Path(os.environ.get("GENBENCH_RESULTS", "results"))
