"""Run a suite's remaining jobs as ``genbench run``/``genbench resume`` subprocesses, N at a time.

Each job is its own process (its own log file under ``<results>/suites/<name>/logs/``), so a
crash or an out-of-memory kill takes down one job, not the suite. With several GPUs each
worker slot gets its own GPU through ``CUDA_VISIBLE_DEVICES``. Ctrl-C sends SIGINT to the
jobs, which checkpoint and stop as ``interrupted``; the next ``suite run`` resumes them.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from genbench.store import Store
from genbench.store.claims import JobClaims
from genbench.store.db import HEARTBEAT_SECONDS, process_owner
from genbench.store.runs import RunWriter
from genbench.store.schema import LIVE_STATUSES
from genbench.suite.plan import PlannedJob, classify, find_runs
from genbench.validate import check_name, confined


@dataclass
class Slot:
    """A job in flight."""

    planned: PlannedJob
    proc: subprocess.Popen[bytes]
    log: Path
    started: float
    gpu: int | None = None


@dataclass
class SuiteProgress:
    """What the progress view shows; updated by :func:`execute` about once a second."""

    total: int
    done: int = 0  # finished before this session or in it
    failed: int = 0
    elsewhere: int = 0  # running in another process we did not start
    running: list[tuple[str, float, float]] = field(default_factory=list)  # (label, fraction, elapsed s)
    queued: int = 0
    durations: list[float] = field(default_factory=list)  # wall seconds of jobs finished this session
    jobs: int = 1
    failed_logs: list[tuple[str, str]] = field(default_factory=list)  # (label, log file) of each failed job

    def eta(self) -> float | None:
        """Seconds left, spread over the worker slots.

        A job's expected time is the mean of the finished ones and of the running ones already
        past that mean (the first to finish are the quick ones: their mean alone undercounts). A
        running job that has trained part of its budget needs at least as long again per part;
        queued jobs take the expected time each.
        """
        if not self.durations:
            return None
        mean = sum(self.durations) / len(self.durations)
        longer = [elapsed for _, _, elapsed in self.running if elapsed > mean]
        expected = (sum(self.durations) + sum(longer)) / (len(self.durations) + len(longer))
        left = self.queued * expected
        for _, frac, elapsed in self.running:
            training = elapsed * (1 - frac) / frac if 0 < frac < 1 else 0.0
            left += max(training, expected - elapsed, 0.0)
        return left / max(1, self.jobs)


def job_command(planned: PlannedJob, *, device: str, results_dir: Path, data_dir: str | None) -> list[str]:
    """The ``genbench`` command line that does one job. The store's URL is never on it (``ps``
    shows every user a command line): the job reads it from ``GENBENCH_DB``."""
    job = planned.job
    common = ["--device", device, "--results-dir", str(results_dir)]
    if planned.action == "resume" and planned.run is not None:
        return [sys.executable, "-m", "genbench", "resume", planned.run.id, *common]
    cmd = [sys.executable, "-m", "genbench", "run", job.family, "--model", job.model, "--dataset", job.dataset,
           "--benchmark", job.benchmark, "--budget", job.budget, "--seed", str(job.seed), *common]  # fmt: skip
    for s in job.sets:
        cmd += ["--set", s]
    if data_dir:
        cmd += ["--data-dir", data_dir]
    return cmd


def _gpu_count(device: str) -> int:
    if device == "cpu":
        return 0
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:  # no usable CUDA: CPU jobs
        return 0


def execute(
    planned: list[PlannedJob],
    *,
    suite_name: str,
    store: Store,
    results_dir: Path,
    db_url: str | None,
    device: str = "auto",
    jobs: int = 1,
    data_dir: str | None = None,
    on_update: Callable[[SuiteProgress], None] = lambda p: None,
    on_event: Callable[[str], None] = lambda m: None,
    poll_s: float = 1.0,
) -> SuiteProgress:
    """Run every job whose action is start/resume/restart; returns the final progress.

    Each job is claimed in the store before it is looked at again and started (see
    :mod:`genbench.store.claims`): a job another runner holds is left to it."""
    todo = [p for p in planned if p.action in ("start", "resume", "restart")]
    progress = SuiteProgress(total=len(planned), jobs=jobs, queued=len(todo))
    progress.done = sum(p.action == "done" for p in planned)
    progress.elsewhere = sum(p.action == "running" for p in planned)
    log_dir = confined(results_dir, "suites", check_name(suite_name, "suite name"), "logs", what="log folder")
    log_dir.mkdir(parents=True, exist_ok=True)
    gpus = _gpu_count(device) if device != "cpu" else 0
    slots: list[Slot] = []
    queue = list(todo)
    claims = JobClaims(store, process_owner())
    last_beat = time.monotonic()
    try:
        while queue or slots:
            while queue and len(slots) < jobs:
                job = queue.pop(0).job
                if not claims.claim(job.key):
                    progress.elsewhere += 1
                    on_event(f"skipped {job.label}: another suite run holds it")
                    continue
                # The plan is as old as this command: another `suite run` or a `genbench run` on the
                # same store may have finished or started this job since. Look again, under our claim.
                now = classify(job, find_runs(store, job))
                if now.action in ("done", "running"):
                    claims.release([job.key])
                    progress.done += now.action == "done"
                    progress.elsewhere += now.action == "running"
                    on_event(f"skipped {now.job.label}: {now.why} (by another process since this suite run began)")
                    continue
                slots.append(_launch(now, slots, store, log_dir, gpus, device, results_dir, db_url, data_dir, jobs))
                on_event(f"started {slots[-1].planned.job.label} ({slots[-1].planned.action}), log {slots[-1].log}")
            progress.queued = len(queue)
            if time.monotonic() - last_beat > HEARTBEAT_SECONDS / 2:
                claims.beat()
                last_beat = time.monotonic()
            for slot in list(slots):
                rc = slot.proc.poll()
                if rc is None:
                    continue
                slots.remove(slot)
                claims.release([slot.planned.job.key])
                runs = find_runs(store, slot.planned.job)
                status = runs[0].status if runs else "failed"
                elapsed = time.monotonic() - slot.started
                if status in ("finished", "diverged"):
                    progress.done += 1
                    progress.durations.append(elapsed)
                else:
                    progress.failed += 1
                    progress.failed_logs.append((slot.planned.job.label, str(slot.log)))
                rid = runs[0].id if runs else "-"
                on_event(f"{status}: {slot.planned.job.label} as run {rid} in {elapsed:.0f} s (exit {rc})")
            progress.running = [_running_row(s, store) for s in slots]
            on_update(progress)
            if slots or queue:
                time.sleep(poll_s)
    except KeyboardInterrupt:
        for slot in slots:  # the jobs checkpoint and stop as "interrupted"; `suite run` resumes them
            slot.proc.send_signal(signal.SIGINT)
        for slot in slots:
            try:
                slot.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                slot.proc.kill()
        raise
    finally:
        claims.release_all()
    progress.running = []
    on_update(progress)
    return progress


def _launch(planned: PlannedJob, slots: list[Slot], store: Store, log_dir: Path, gpus: int, device: str,
            results_dir: Path, db_url: str | None, data_dir: str | None, jobs: int) -> Slot:  # fmt: skip
    close_dead_run(store, planned)
    env = dict(os.environ)
    if db_url:  # through the environment, never the command line (ps) or the log
        env["GENBENCH_DB"] = db_url
    # N jobs share the CPU cores: without this each would start one thread per core.
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // jobs)))
    gpu = None
    if gpus > 1:  # one GPU per worker slot
        busy = {s.gpu for s in slots}
        gpu = next(i for i in range(gpus) if i not in busy) if len(busy) < gpus else len(slots) % gpus
        env["CUDA_VISIBLE_DEVICES"] = str(gpu)
    job = planned.job
    name = f"{job.benchmark}-{job.budget}-{job.model}-s{job.seed}-{job.config_hash[:6]}.log"
    log = confined(log_dir, check_name(name, "log file"), what="log file")
    cmd = job_command(planned, device=device, results_dir=results_dir, data_dir=data_dir)
    # Readable by this user only: a job's output is its own (a failing driver may print its settings).
    with os.fdopen(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab") as fh:
        fh.write(f"$ {shlex.join(cmd)}\n".encode())
        fh.flush()
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    return Slot(planned, proc, log, time.monotonic(), gpu)


def close_dead_run(store: Store, planned: PlannedJob) -> None:
    """A dead process left its row live with no checkpoint: close it, the job starts anew."""
    if planned.action == "restart" and planned.run is not None and planned.run.status in LIVE_STATUSES:
        why = "process died before its first checkpoint; the suite started it again"
        RunWriter(store, planned.run.id).stop("failed", why)


def _running_row(slot: Slot, store: Store) -> tuple[str, float, float]:
    """(label, fraction of the budget trained, seconds since launch) from the run's last checkpoint.

    A fraction of 1.0 while the process lives means training is over and the run is being scored."""
    runs = find_runs(store, slot.planned.job)
    if not runs:
        return slot.planned.job.label, 0.0, time.monotonic() - slot.started
    frac = 1.0 if runs[0].status != "running" else runs[0].images_seen / max(1, runs[0].budget_images)
    return slot.planned.job.label, min(frac, 1.0), time.monotonic() - slot.started
