"""Run a suite's remaining jobs on a Slurm cluster through submitit (``genbench[slurm]``).

Each submitted job runs the same ``genbench run``/``genbench resume`` command the local executor
runs (:func:`genbench.suite.executor.job_command`), so a job is exactly as idempotent: it finds its
run in the one shared store (PostgreSQL) and writes there. The store's URL, which may hold a
password, is written to ``<results>/suites/<name>/submitit/store-url``, readable by its owner
only; each job reads it into ``GENBENCH_DB`` for its command. It is never pickled into
submitit's ``*_submitted.pkl`` files nor put on a command line. The progress view polls that
store and submitit's job states. Jobs submitted by an earlier ``suite run`` that are still
queued or running are followed, never submitted twice: their ids are kept in
``<results>/suites/<name>/submitit/jobs.json``; each job is claimed in the store before it is
submitted (:mod:`genbench.store.claims`), so two ``suite run``s never submit one job twice.

Signals: Ctrl-C here cancels the submitted jobs (``scancel``). Inside a job, the SIGTERM of
``scancel`` and the USR2 Slurm sends 90 s before the time limit reach the ``genbench`` process
as SIGINT, so its run checkpoints and stops as ``interrupted``; the next ``suite run`` resumes it.

``--executor submitit-local`` runs the same code path through submitit's LocalExecutor on this
machine: the tests use it, and it tries a suite's cluster setup without a cluster.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genbench.errors import GenbenchError
from genbench.store import Store
from genbench.store.claims import JobClaims
from genbench.store.db import HEARTBEAT_SECONDS, process_owner
from genbench.suite.executor import SuiteProgress, close_dead_run, job_command
from genbench.suite.job import run_job
from genbench.suite.plan import Job, PlannedJob, find_runs
from genbench.validate import check_name, confined

EXECUTORS = ("local", "slurm", "submitit-local")
DEFAULT_TIME_MIN = 240  # submitit's own default is 5 minutes; a partition's maximum caps what sbatch accepts
_INT_KEYS = {"time", "nodes", "ntasks_per_node", "cpus_per_task", "cpus_per_gpu", "gpus_per_node", "gpus_per_task",
             "array_parallelism", "signal_delay_s"}  # fmt: skip
_BOOL_KEYS = {"exclusive", "stderr_to_stdout", "use_srun"}
# genbench sets these itself: logs go where the failure report points, one job per suite job.
_OWN_KEYS = {"output", "error", "open_mode", "array", "folder", "command", "map_count", "additional_parameters",
             "setup", "teardown", "srun_args", "num_gpus"}  # fmt: skip
# What may stand in an sbatch line: submitit writes `#SBATCH --key=value` into a shell script, so a
# newline would start a line of its own, and quotes, `$` or `;` have no place in a Slurm setting.
_SLURM_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
_SLURM_VALUE = re.compile(r"[A-Za-z0-9._:,=+/@%\[\]-]{1,256}")
_LIVE_STATES = {"PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "SUSPENDED", "RESIZING", "REQUEUE_HOLD"}


def _slurm_keys() -> set[str]:
    try:
        import submitit
    except ImportError:
        raise GenbenchError("a cluster executor needs submitit: pip install 'genbench[slurm]'") from None

    return set(submitit.SlurmExecutor._valid_parameters()) - _OWN_KEYS


def parse_slurm_params(items: Iterable[str], where: str = "--slurm-param") -> dict[str, str]:
    """``["partition=gpu", "time=60"]`` -> ``{"partition": "gpu", "time": "60"}``."""
    out: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip() or not value.strip():
            raise GenbenchError(f"{where} {item}: expected key=value, like partition=gpu or time=240")
        out[key.strip()] = value.strip()
    return out


def slurm_parameters(params: Mapping[str, str], *, suite_name: str, device: str, jobs: int | None) -> dict[str, Any]:
    """sbatch settings for submitit's SlurmExecutor: genbench's defaults, then ``params``.

    Keys are sbatch's long options (``partition``, ``time`` in minutes or ``D-HH:MM:SS``,
    ``gpus_per_node``, ``cpus_per_task``, ``mem``, ``account``, ``qos``, ``constraint`` ...;
    dashes or underscores). A key submitit does not know goes to sbatch as it is (``reservation=x``
    -> ``#SBATCH --reservation=x``), unless it is close to a known one: then it is a typo.
    """
    check_name(suite_name, "suite name")
    out: dict[str, Any] = {"job_name": f"genbench-{suite_name}", "time": DEFAULT_TIME_MIN, "stderr_to_stdout": True}
    if device == "cuda":
        out["gpus_per_node"] = 1
    if jobs is not None:
        out["array_parallelism"] = jobs  # --jobs N: at most N of the suite's jobs run at once
    known, extra = _slurm_keys(), {}
    for raw_key, value in params.items():
        check_slurm_setting(raw_key, value)
        key = raw_key.replace("-", "_")
        if key in _OWN_KEYS:
            raise GenbenchError(f"slurm setting '{raw_key}' is set by genbench itself (logs, job array); drop it")
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.8)  # a typo, not another sbatch option
            if close:
                raise GenbenchError(f"unknown slurm setting '{raw_key}' (did you mean '{close[0]}'?)")
            extra[raw_key] = value  # passed to sbatch verbatim: sbatch itself rejects what it does not know
        elif key in _INT_KEYS and value.isdigit():
            out[key] = int(value)
        elif key in _INT_KEYS and key != "time":
            raise GenbenchError(f"slurm setting {raw_key}={value}: expected a whole number")
        elif key in _BOOL_KEYS:
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise GenbenchError(f"slurm setting {raw_key}={value}: expected true or false")
            out[key] = value.lower() in ("true", "1", "yes")
        else:
            out[key] = value
    if extra:
        out["additional_parameters"] = extra
    return out


def check_slurm_setting(key: str, value: str) -> None:
    """One line when a setting could break out of its ``#SBATCH`` line (a newline, quotes, ``$``...)."""
    if not _SLURM_KEY.fullmatch(key):
        raise GenbenchError(f"slurm setting {key!r}: a key is letters, digits, '_' or '-'")
    if not _SLURM_VALUE.fullmatch(value):
        raise GenbenchError(
            f"slurm setting {key}={value!r}: a value is letters, digits and . _ : , = + / @ % [ ] - "
            "(no spaces, newlines, quotes or shell characters)"
        )


def make_executor(kind: str, folder: Path, parameters: Mapping[str, Any]) -> Any:
    """A submitit AutoExecutor for ``slurm`` or ``submitit-local`` with these sbatch settings."""
    try:
        import submitit
    except ImportError:
        raise GenbenchError(f"--executor {kind} needs submitit: pip install 'genbench[slurm]'") from None
    cluster = "slurm" if kind == "slurm" else "local"
    try:
        executor = submitit.AutoExecutor(folder=folder / "%j", cluster=cluster)
    except RuntimeError as exc:  # submitit looks for srun: not on a Slurm login node
        raise GenbenchError(f"--executor slurm: {exc} (run from a node that can sbatch, or --executor local)") from None
    executor.update_parameters(**{f"slurm_{k}": v for k, v in parameters.items()})
    if cluster == "local":  # the LocalExecutor reads the generic names and ignores the slurm_ ones
        minutes = parameters["time"] if isinstance(parameters["time"], int) else DEFAULT_TIME_MIN
        executor.update_parameters(timeout_min=minutes, stderr_to_stdout=True,
                                   gpus_per_node=parameters.get("gpus_per_node", 0))  # fmt: skip
    return executor


def check_store(kind: str, db_url: str) -> None:
    """Refuse a cluster executor whose jobs cannot all write one store safely."""
    if kind == "slurm" and db_url.startswith("sqlite"):
        raise GenbenchError(
            "--executor slurm needs one store every node reaches: SQLite is unsafe on a network filesystem "
            "(its file locks are not reliable there); pass --db postgresql://user:pass@host/db "
            "(pip install 'genbench[postgres]')"
        )


def job_key(job: Job) -> str:
    return job.key


def submitit_folder(results_dir: Path, suite_name: str) -> Path:
    return confined(results_dir, "suites", check_name(suite_name, "suite name"), "submitit", what="submitit folder")


def write_secret(folder: Path, name: str, text: str) -> Path:
    """``folder/name`` holding ``text``, created readable and writable by this user only (0600)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    tmp = folder / f".{name}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, 0o600)  # whatever the umask or an earlier file said
    tmp.replace(path)
    return path


def load_record(folder: Path) -> dict[str, dict[str, str]]:
    """The cluster jobs earlier ``suite run`` calls submitted: job key -> executor, job id, log."""
    try:
        return json.loads((folder / "jobs.json").read_text())
    except (OSError, ValueError):
        return {}


def _save_record(folder: Path, record: Mapping[str, Mapping[str, str]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "jobs.json.tmp"
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True))
    tmp.replace(folder / "jobs.json")


def job_state(entry: Mapping[str, str], folder: Path) -> str:
    """Slurm's state of a recorded job (``sacct``), or UNKNOWN where it cannot be asked."""
    if entry.get("executor") != "slurm":
        return "UNKNOWN"  # a LocalExecutor job does not outlive the process that started it
    try:
        import submitit

        return str(submitit.SlurmJob(folder=folder / "%j", job_id=entry["job_id"]).state)
    except Exception:  # no submitit or no sacct here
        return "UNKNOWN"


@dataclass
class Tracked:
    """A submitted job being followed."""

    planned: PlannedJob
    job: Any  # submitit.Job
    started: float | None = None  # when it was first seen running


def _log(job: Any) -> str:
    return str(job.paths.stdout)


def execute_cluster(
    planned: list[PlannedJob],
    *,
    kind: str,
    suite_name: str,
    store: Store,
    results_dir: Path,
    db_url: str,
    device: str,
    params: Mapping[str, str],
    jobs: int | None = None,
    data_dir: str | None = None,
    on_update: Callable[[SuiteProgress], None] = lambda p: None,
    on_event: Callable[[str], None] = lambda m: None,
    poll_s: float = 1.0,
) -> SuiteProgress:
    """Submit every job whose action is start/resume/restart (or follow its earlier submission); wait for all."""
    import submitit  # noqa: F401  (a missing submitit fails here, before anything is checked or submitted)

    check_store(kind, db_url)
    results_dir = results_dir.resolve()  # a node may start the job in another folder
    folder = submitit_folder(results_dir, suite_name)
    executor = make_executor(kind, folder, slurm_parameters(params, suite_name=suite_name, device=device, jobs=jobs))
    record = load_record(folder)
    todo = [p for p in planned if p.action in ("start", "resume", "restart")]
    progress = SuiteProgress(total=len(planned), queued=len(todo))
    progress.done = sum(p.action == "done" for p in planned)
    progress.elsewhere = sum(p.action == "running" for p in planned)
    claims = JobClaims(store, process_owner())
    try:
        todo = _claim(todo, claims, store, progress, on_event)
        tracked, to_submit = _follow_earlier(todo, record, kind=kind, folder=folder, on_event=on_event)
        data_dir = str(Path(data_dir).resolve()) if data_dir else None  # a job may start in another folder
        url_file = write_secret(folder, "store-url", db_url) if to_submit else folder / "store-url"
        tracked += _submit(
            to_submit, executor, record, kind=kind, folder=folder, store=store, device=device,
            results_dir=results_dir, url_file=url_file, data_dir=data_dir, on_event=on_event,
        )  # fmt: skip
        try:
            _wait(tracked, progress, store, claims, on_update=on_update, on_event=on_event, poll_s=poll_s)
        except KeyboardInterrupt:
            for t in tracked:  # scancel: a running job's run checkpoints and stops as "interrupted"
                t.job.cancel(check=False)
            on_event(f"cancelled {len(tracked)} cluster jobs; `genbench suite run` again resumes them")
            raise
    finally:
        claims.release_all()
    progress.running = []
    on_update(progress)
    return progress


def _claim(
    todo: list[PlannedJob], claims: JobClaims, store: Store, progress: SuiteProgress, on_event: Callable[[str], None]
) -> list[PlannedJob]:
    """The jobs this runner claimed and that are still to do once claimed; the rest are left."""
    from genbench.suite.plan import classify

    mine = []
    for p in todo:
        if not claims.claim(p.job.key):
            progress.elsewhere += 1
            on_event(f"skipped {p.job.label}: another suite run holds it")
            continue
        now = classify(p.job, find_runs(store, p.job))  # looked at again under the claim
        if now.action in ("done", "running"):
            claims.release([p.job.key])
            progress.done += now.action == "done"
            progress.elsewhere += now.action == "running"
            on_event(f"skipped {p.job.label}: {now.why} (by another process since this suite run began)")
            continue
        mine.append(now)
    progress.queued = len(mine)
    return mine


def _follow_earlier(
    todo: list[PlannedJob],
    record: Mapping[str, Mapping[str, str]],
    *,
    kind: str,
    folder: Path,
    on_event: Callable[[str], None],
) -> tuple[list[Tracked], list[PlannedJob]]:
    """Split the jobs to do into those an earlier ``suite run`` submitted and still live (followed) and the rest."""
    import submitit

    tracked: list[Tracked] = []
    to_submit: list[PlannedJob] = []
    for p in todo:
        entry = record.get(job_key(p.job))
        state = job_state(entry, folder) if entry and entry.get("executor") == kind else "UNKNOWN"
        if entry and state in _LIVE_STATES:
            tracked.append(Tracked(p, submitit.SlurmJob(folder=folder / "%j", job_id=entry["job_id"])))
            on_event(f"following {p.job.label}: cluster job {entry['job_id']} ({state}), submitted earlier")
        else:
            to_submit.append(p)
    return tracked, to_submit


def _submit(
    to_submit: list[PlannedJob],
    executor: Any,
    record: dict[str, dict[str, str]],
    *,
    kind: str,
    folder: Path,
    store: Store,
    device: str,
    results_dir: Path,
    url_file: Path,
    data_dir: str | None,
    on_event: Callable[[str], None],
) -> list[Tracked]:
    """Submit the jobs as one job array (a dead run of each closed first) and record their ids in jobs.json."""
    submitted = []
    with executor.batch() if to_submit else contextlib.nullcontext():  # one sbatch job array, not one per job
        for p in to_submit:
            close_dead_run(store, p)
            cmd = job_command(p, device=device, results_dir=results_dir, data_dir=data_dir)
            # The job gets the path of the 0600 file, not the URL: submitit pickles its arguments.
            submitted.append((p, executor.submit(run_job, cmd, str(url_file))))
    tracked = []
    for p, job in submitted:
        record[job_key(p.job)] = {"executor": kind, "job_id": str(job.job_id), "log": _log(job), "label": p.job.label}
        tracked.append(Tracked(p, job))
        on_event(f"submitted {p.job.label} ({p.action}) as cluster job {job.job_id}, log {_log(job)}")
    if submitted:
        _save_record(folder, record)
    return tracked


def _wait(
    tracked: list[Tracked],
    progress: SuiteProgress,
    store: Store,
    claims: JobClaims,
    *,
    on_update: Callable[[SuiteProgress], None],
    on_event: Callable[[str], None],
    poll_s: float,
) -> None:
    """Poll the tracked jobs until all are done, taking each finished one out of ``tracked`` and into ``progress``."""
    last_beat = time.monotonic()
    while tracked:
        if time.monotonic() - last_beat > HEARTBEAT_SECONDS / 2:
            claims.beat()
            last_beat = time.monotonic()
        for t in list(tracked):
            state = str(t.job.state)
            if t.started is None and (state == "RUNNING" or state.startswith("COMPLET")):
                t.started = time.monotonic()
            if not t.job.done():
                continue
            tracked.remove(t)
            _count_finished(t, progress, store, on_event)
            claims.release([t.planned.job.key])
        running = [t for t in tracked if t.started is not None]
        progress.running = [_running_row(t, store) for t in running]
        progress.queued = len(tracked) - len(running)
        progress.jobs = max(1, len(running))
        on_update(progress)
        if tracked:
            time.sleep(poll_s)


def _count_finished(t: Tracked, progress: SuiteProgress, store: Store, on_event: Callable[[str], None]) -> None:
    """Count a job whose cluster job ended as done or failed, by the status its run has in the store."""
    runs = find_runs(store, t.planned.job)
    status = runs[0].status if runs else "failed"
    elapsed = time.monotonic() - (t.started or time.monotonic())
    rid = runs[0].id if runs else "-"
    if status in ("finished", "diverged"):
        progress.done += 1
        progress.durations.append(elapsed)
        on_event(f"{status}: {t.planned.job.label} as run {rid} in {elapsed:.0f} s")
    else:  # interrupted (cancelled, or stopped before its time limit) or failed: the log says which
        progress.failed += 1
        progress.failed_logs.append((t.planned.job.label, _log(t.job)))
        again = "; `suite run` again resumes it" if status == "interrupted" else ""
        on_event(f"{status}: {t.planned.job.label} as run {rid}: cluster job {t.job.job_id} ended "
                 f"{t.job.state}, log {_log(t.job)}{again}")  # fmt: skip


def _running_row(t: Tracked, store: Store) -> tuple[str, float, float]:
    runs = find_runs(store, t.planned.job)
    elapsed = time.monotonic() - (t.started or time.monotonic())
    if not runs:
        return t.planned.job.label, 0.0, elapsed
    frac = 1.0 if runs[0].status != "running" else runs[0].images_seen / max(1, runs[0].budget_images)
    return t.planned.job.label, min(frac, 1.0), elapsed
