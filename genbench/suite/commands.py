"""``genbench suite run|status|list`` and ``genbench benchmarks``, added through the command hook."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from genbench.columns import print_columns

if TYPE_CHECKING:
    from rich.live import Live

    from genbench.store import Store
    from genbench.suite import Suite
    from genbench.suite.executor import SuiteProgress
    from genbench.suite.plan import PlannedJob

console = Console()
err_console = Console(stderr=True)

ResultsOpt = Annotated[
    Path, typer.Option("--results-dir", envvar="GENBENCH_RESULTS", help="Runs and artifacts go here.")
]
DbOpt = Annotated[
    Optional[str],
    typer.Option("--db", envvar="GENBENCH_DB", help="SQLAlchemy URL; default SQLite in the results folder."),
]
SeedsOpt = Annotated[Optional[str], typer.Option("--seeds", help="Seeds for every entry, e.g. 0,1,2 or 0-2.")]

suite_app = typer.Typer(help="Run sets of benchmarks x models x seeds as one idempotent job.", no_args_is_help=True)


def _store(results_dir: Path, db: str | None):  # type: ignore[no-untyped-def]
    from genbench.store import Store, default_db_url

    return Store(db or default_db_url(results_dir))


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "estimating…"
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"


def _children_cpu() -> float:
    """User + system CPU seconds of this process's finished child processes (0 where unknown)."""
    try:
        import resource
    except ImportError:  # not on Windows
        return 0.0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _head(name: str, progress, started: float) -> Text:  # type: ignore[no-untyped-def]
    return Text.assemble(
        (f"suite {name}: ", "bold"),
        (f"{progress.done} done", "green"), " · ",
        (f"{len(progress.running)} running", "cyan"), " · ",
        f"{progress.queued} queued",
        *((" · ", (f"{progress.failed} failed", "red")) if progress.failed else ()),
        *((" · ", f"{progress.elsewhere} running elsewhere") if progress.elsewhere else ()),
        f" of {progress.total} · elapsed {_duration(time.monotonic() - started)} · ETA {_duration(progress.eta())}",
    )  # fmt: skip


def _view(name: str, progress, started: float):  # type: ignore[no-untyped-def]
    """The suite's one progress view: counts and ETA, then a bar per running job."""
    head = _head(name, progress, started)
    if not progress.running:
        return head
    table = Table(box=None, show_header=False, padding=(0, 1))
    for label, frac, elapsed in progress.running:
        bar = "█" * int(frac * 20) + "░" * (20 - int(frac * 20))
        table.add_row(f"  {label}", bar, "evaluating" if frac >= 1.0 else f"{frac:4.0%} trained", _duration(elapsed))
    return Group(head, table)


@suite_app.command("run")
def suite_run(
    name: Annotated[str, typer.Argument(help="Suite name (`genbench suite list`) or path to a .suite.yaml file.")],
    jobs: Annotated[
        Optional[int],
        typer.Option("--jobs", "-j", help="Jobs at once, each in its own process (default 1; slurm: no limit)."),
    ] = None,
    device: Annotated[Optional[str], typer.Option("--device", help="auto, cpu or cuda; default: the suite's.")] = None,
    seeds: SeedsOpt = None,
    data_dir: Annotated[Optional[str], typer.Option("--data-dir", envvar="GENBENCH_DATA", help="Data root.")] = None,
    results_dir: ResultsOpt = Path("results"),
    db: DbOpt = None,
    executor: Annotated[
        str,
        typer.Option(
            "--executor",
            help="local: processes on this machine; slurm: one sbatch job per run through submitit "
            # rich markup would swallow an unescaped [slurm]
            "(pip install 'genbench\\[slurm]'); submitit-local: the slurm path on this machine.",
        ),
    ] = "local",
    slurm_param: Annotated[
        Optional[list[str]],
        typer.Option(
            "--slurm-param",
            help="sbatch setting key=value, repeatable, over the suite's slurm: mapping: partition=gpu, time=240 "
            "(minutes), gpus_per_node=1, cpus_per_task=8, mem=32G, account=..., qos=...",
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Run nothing: print each job's expected time on this device (as `suite estimate`)."
        ),
    ] = False,
) -> None:
    """Run what a suite still lacks: finished runs are kept, interrupted or dead ones resumed, the rest started."""
    from genbench.plugins import get_plugins
    from genbench.store import default_db_url
    from genbench.suite import get_suite, parse_seeds
    from genbench.suite.plan import plan

    if dry_run:
        _estimate(name, device, seeds, data_dir, results_dir, db)
        return
    _check_run_options(jobs, executor, slurm_param)
    plugins = get_plugins()
    suite = get_suite(name, plugins.suites)
    cluster = executor != "local"
    db_url = db or default_db_url(results_dir)
    params = _cluster_params(suite, executor, slurm_param, device=device, jobs=jobs, db_url=db_url) if cluster else {}
    store = _store(results_dir, db)  # created here, once, before any job opens it
    planned = plan(suite, plugins, store, parse_seeds(seeds) if seeds else None)
    device = device or suite.device
    _check_device_and_data(planned, device, data_dir, cluster=cluster)
    how = f"--executor {executor}" + (f" --jobs {jobs}" if jobs else "") if cluster else f"--jobs {jobs or 1}"
    _announce(suite, planned, how, device)
    started = time.monotonic()
    cpu_before = _children_cpu()
    progress = _execute(
        planned, executor=executor, suite_name=suite.name, store=store, results_dir=results_dir, db=db,
        db_url=db_url, device=device, params=params, jobs=jobs, data_dir=data_dir, started=started,
    )  # fmt: skip
    wall = time.monotonic() - started
    # CPU time of the jobs says what the suite costs on idle cores when the machine is shared.
    cpu = "" if cluster else f", jobs' CPU time {_children_cpu() - cpu_before:.1f} s"
    _print_summary(suite.name, progress, f"wall time {wall:.1f} s with {how}{cpu}")


MAX_CLUSTER_JOBS = 10_000


def _cpus() -> int:
    import os

    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _check_run_options(jobs: int | None, executor: str, slurm_param: list[str] | None) -> None:
    """One line for a bad --jobs, --executor or --slurm-param, before any plugin or suite is loaded."""
    from genbench.errors import GenbenchError, did_you_mean
    from genbench.suite.cluster import EXECUTORS

    if executor not in EXECUTORS:
        raise GenbenchError(f"unknown executor '{executor}'{did_you_mean(executor, EXECUTORS)}")
    # Local jobs share this machine's CPUs; cluster jobs are capped by the job array's parallelism.
    most = MAX_CLUSTER_JOBS if executor != "local" else _cpus()
    if jobs is not None and not 1 <= jobs <= most:
        where = "at once on the cluster" if executor != "local" else f"at once here ({most} CPUs)"
        raise GenbenchError(f"--jobs {jobs}: give 1 to {most} jobs {where}")
    if slurm_param and executor == "local":
        raise GenbenchError("--slurm-param needs --executor slurm (or submitit-local)")


def _cluster_params(
    suite: Suite, executor: str, slurm_param: list[str] | None, *, device: str | None, jobs: int | None, db_url: str
) -> dict[str, str]:
    """The suite's slurm settings under --slurm-param, checked with the store before anything is planned."""
    from genbench.suite.cluster import check_store, parse_slurm_params, slurm_parameters

    # Bad settings or an unsafe store: one line before anything is planned or submitted.
    params = {**dict(suite.slurm), **parse_slurm_params(slurm_param or [])}
    slurm_parameters(params, suite_name=suite.name, device=device or suite.device, jobs=jobs)
    check_store(executor, db_url)
    return params


def _check_device_and_data(planned: list[PlannedJob], device: str, data_dir: str | None, *, cluster: bool) -> None:
    """When jobs are left to run, check the device (on this machine only) and load each dataset they need."""
    if not any(p.action in ("start", "resume", "restart") for p in planned):
        return
    # A missing GPU or data folder is one message now, not one failed job per model.
    from genbench.data import load_dataset
    from genbench.engine.device import resolve_device

    if not cluster:  # a login node may have no GPU; the job's node checks its own
        resolve_device(device)
    for dataset in dict.fromkeys(p.job.dataset for p in planned if p.action != "done"):
        load_dataset(dataset, data_dir)


def _announce(suite: Suite, planned: list[PlannedJob], how: str, device: str) -> None:
    """Print how many of the suite's jobs are done or running and how many will run, and how."""
    todo = sum(p.action in ("start", "resume", "restart") for p in planned)
    console.print(
        f"suite [bold]{suite.name}[/] v{suite.version}: {len(planned)} jobs, {len(planned) - todo} already done or "
        f"running, {todo} to run with {how} on {device}"
    )


class _ProgressDisplay:
    """The suite's progress on the console: a live view on a terminal, a plain line every 30 s in a log file."""

    def __init__(self, suite_name: str, started: float) -> None:
        self.suite_name = suite_name
        self.started = started
        self.last_line = 0.0
        self.live: Live | None = None
        if console.is_terminal:
            from rich.live import Live

            self.live = Live(console=console, refresh_per_second=2, transient=False)
            self.live.start()

    def on_update(self, progress: SuiteProgress) -> None:
        """Redraw the live view, or print the counts line when the last one is over 30 s old."""
        if self.live is not None:
            self.live.update(_view(self.suite_name, progress, self.started))
        elif time.monotonic() - self.last_line > 30:  # a log file gets a plain line now and then
            self.last_line = time.monotonic()
            console.print(_head(self.suite_name, progress, self.started), highlight=False)

    def on_event(self, message: str) -> None:
        """Print one timestamped event (a job started, finished or failed) above the live view."""
        from rich.markup import escape  # a job's label holds its --set overrides in brackets: text, not markup

        (self.live.console if self.live else console).print(
            f"[dim]{time.strftime('%H:%M:%S')}[/] {escape(message)}", highlight=False
        )

    def stop(self) -> None:
        """Stop the live view, leaving its last frame on the terminal."""
        if self.live is not None:
            self.live.stop()


def _execute(
    planned: list[PlannedJob],
    *,
    executor: str,
    suite_name: str,
    store: Store,
    results_dir: Path,
    db: str | None,
    db_url: str,
    device: str,
    params: dict[str, str],
    jobs: int | None,
    data_dir: str | None,
    started: float,
) -> SuiteProgress:
    """Run the planned jobs as processes here or as cluster jobs, the progress display following them."""
    display = _ProgressDisplay(suite_name, started)
    try:
        if executor != "local":
            from genbench.suite.cluster import execute_cluster

            return execute_cluster(
                planned, kind=executor, suite_name=suite_name, store=store, results_dir=results_dir, db_url=db_url,
                device=device, params=params, jobs=jobs, data_dir=data_dir, on_update=display.on_update,
                on_event=display.on_event,
            )  # fmt: skip
        from genbench.suite.executor import execute

        return execute(
            planned, suite_name=suite_name, store=store, results_dir=results_dir, db_url=db, device=device,
            jobs=jobs or 1, data_dir=data_dir, on_update=display.on_update, on_event=display.on_event,
        )  # fmt: skip
    finally:
        display.stop()


def _print_summary(suite_name: str, progress: SuiteProgress, timing: str) -> None:
    """Print the suite's counts and timing, then each failed job's log; exit 1 when a job failed."""
    console.print(f"suite {suite_name}: {progress.done} of {progress.total} done, {progress.failed} failed, {timing}")
    if progress.failed:
        for label, log in progress.failed_logs:
            console.print(f"failed: {label}, log {log}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1)


@suite_app.command("estimate")
def suite_estimate(
    name: Annotated[str, typer.Argument(help="Suite name (`genbench suite list`) or path to a .suite.yaml file.")],
    device: Annotated[Optional[str], typer.Option("--device", help="auto, cpu or cuda; default: the suite's.")] = None,
    seeds: SeedsOpt = None,
    data_dir: Annotated[Optional[str], typer.Option("--data-dir", envvar="GENBENCH_DATA", help="Data root.")] = None,
    results_dir: ResultsOpt = Path("results"),
    db: DbOpt = None,
) -> None:
    """Each job's expected training and evaluation time on this device, measured on a few batches; stores nothing.

    The measuring is real work: about 3% of the suite's own time (4.5 CPU-minutes for mnist-quick).
    """
    _estimate(name, device, seeds, data_dir, results_dir, db)


def _estimate(
    name: str, device: str | None, seeds: str | None, data_dir: str | None, results_dir: Path, db: str | None
) -> None:
    """Time a few training steps and each metric on small counts per job still to run, scale them to
    the benchmark's counts and print the expected times (genbench.suite.estimate). Stores nothing."""
    from genbench.engine.build import model_class
    from genbench.plugins import get_plugins
    from genbench.store import Store, default_db_url
    from genbench.store.db import sqlite_file
    from genbench.suite import get_suite, parse_seeds
    from genbench.suite.estimate import check_estimable, estimate_job, job_overhead
    from genbench.suite.plan import PlannedJob, expand, plan

    plugins = get_plugins()
    suite = get_suite(name, plugins.suites)
    picked = parse_seeds(seeds) if seeds else None
    url = db or default_db_url(results_dir)
    path = sqlite_file(url)
    if path is not None and not path.exists():  # no store yet: every job is to run (and none is made here)
        planned = [PlannedJob(job, "start", None) for job in expand(suite, plugins, picked)]
    else:
        planned = plan(suite, plugins, Store(url), picked)
    todo = [p.job for p in planned if p.action in ("start", "resume", "restart")]
    check_estimable(todo)
    device = device or suite.device
    _check_device_and_data(planned, device, data_dir, cluster=False)
    print(textwrap.fill(
        f"suite {suite.name} v{suite.version}: estimating {len(todo)} of {len(planned)} jobs on {device} "
        "(a few training steps and each metric on small counts, scaled; nothing is stored)", 80,
    ))  # fmt: skip
    datasets: dict = {}
    overheads: dict[str, tuple[float, float]] = {}  # dataset -> a stopped job's (wall, CPU) seconds
    rows = []
    for i, job in enumerate(todo, 1):
        err_console.print(f"[{i}/{len(todo)}] {job.label}", highlight=False, markup=False)
        # A pretrained model's job, stopped "after one step", would score it whole: it never measures the overhead.
        if job.dataset not in overheads and not model_class(plugins.models.get(job.model)).pretrained:
            overheads[job.dataset] = job_overhead(job, device=device, data_dir=data_dir)
        startup = overheads.get(job.dataset, (0.0, 0.0))
        est = estimate_job(job, plugins, device_name=device, data_dir=data_dir, datasets=datasets, startup=startup,
                           progress=lambda m: err_console.print(f"  {m}", highlight=False, markup=False))  # fmt: skip
        rows.append(est)
    _print_estimates(rows)


def _fmt(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _print_estimates(rows: list) -> None:  # type: ignore[type-arg]
    """One line per job (train, evaluation, total with start-up), its costliest metrics, the total:
    plain aligned lines, 80 columns, the same piped or on a terminal."""
    numbers = 3 * 9
    width = max(20, min(80 - numbers - 1, max(len(r.job.label) for r in rows)))
    print(f"{'job':<{width}} {'train':>8} {'eval':>8} {'total':>8}")
    for r in rows:
        cells = f"{_fmt(r.train):>8} {_fmt(r.eval_total):>8} {_fmt(r.total):>8}"
        if len(r.job.label) <= width:
            print(f"{r.job.label:<{width}} {cells}")
        else:  # a long label on its own line, the numbers under it: nothing is cut
            print(r.job.label)
            print(f"{'':<{width}} {cells}")
        costly = sorted(r.evaluation.items(), key=lambda kv: -kv[1])[:3]
        parts = [f"{n} {_fmt(v)}" for n, v in costly if v >= 1.0]
        if r.grid >= 1.0:
            parts.append(f"sample grid {_fmt(r.grid)}")
        if parts:
            print(f"  costliest: {', '.join(parts)}")
        for metric, why in r.unmeasured.items():
            print(f"  {metric}: not measured ({why[:60]})")
    train, evaluation, total = (sum(getattr(r, k) for r in rows) for k in ("train", "eval_total", "total"))
    print(f"{'total':<{width}} {_fmt(train):>8} {_fmt(evaluation):>8} {_fmt(total):>8}")
    print(f"total: with each job's overhead ({_fmt(rows[0].startup)}: start-up, data, checks, files);")
    ratio = sum(r.load_ratio for r in rows) / len(rows)
    if rows[0].cpu > 0:  # a CPU suite: CPU time says what the jobs cost on idle cores, whatever the load
        print(f"jobs' CPU time {_fmt(sum(r.cpu for r in rows))} (`suite run` prints the same measure at its end),")
    print(f"one job at a time, this device as loaded as now (wall/CPU {ratio:.1f} measured)")


@suite_app.command("status")
def suite_status(
    name: Annotated[str, typer.Argument(help="Suite name or path to a .suite.yaml file.")],
    seeds: SeedsOpt = None,
    results_dir: ResultsOpt = Path("results"),
    db: DbOpt = None,
) -> None:
    """Each job of a suite: done, running, to resume or to start, with its run."""
    from genbench.plugins import get_plugins
    from genbench.store.db import no_store_message, open_existing
    from genbench.suite import get_suite, parse_seeds
    from genbench.suite.cluster import load_record, submitit_folder
    from genbench.suite.plan import plan

    plugins = get_plugins()
    suite = get_suite(name, plugins.suites)
    store = open_existing(results_dir, db)  # a status never creates a store
    planned = plan(suite, plugins, store, parse_seeds(seeds) if seeds else None)
    folder = submitit_folder(results_dir, suite.name)
    submitted = load_record(folder)  # jobs `suite run --executor slurm` submitted: their id and Slurm state
    headers = ["model", "family", "benchmark", "budget", "seed", "settings", "state", "run", "wall s"]
    headers += ["cluster job"] if submitted else []
    cells = []
    for p in planned:
        j, r = p.job, p.run
        state = {"done": r.status if r else "done", "start": "to start" if not r else f"to rerun ({r.status})"}
        cells.append([
            j.model, j.family, j.benchmark, j.budget, str(j.seed), " ".join(j.sets) or "-",
            state.get(p.action, p.action), r.id if r else "-", f"{r.wall_seconds:.0f}" if r else "-",
            *([_cluster_job(submitted, folder, p)] if submitted else []),
        ])  # fmt: skip
    # Model, benchmark, run id and state are whole at 80 columns (a reader greps them); the other
    # columns give way in this order when the terminal is narrow.
    importance = ["model", "benchmark", "run", "state", "seed", "budget", "cluster job", "wall s", "family", "settings"]
    print_columns(
        console, headers, cells, importance, right={"seed", "wall s"}, wrap={"settings", "cluster job"},
        title=f"suite {suite.name} v{suite.version}", see_all="piped (| cat), every column is shown",
    )  # fmt: skip
    words = {"done": "done", "running": "running elsewhere", "resume": "to resume", "restart": "to restart",
             "start": "to start"}  # fmt: skip
    counts = {w: sum(p.action == a for p in planned) for a, w in words.items()}
    console.print(", ".join(f"{n} {w}" for w, n in counts.items() if n))
    if store is None:
        console.print(no_store_message(results_dir, db), highlight=False)


def _cluster_job(submitted, folder: Path, planned) -> str:  # type: ignore[no-untyped-def]
    """The job's last cluster submission: executor, id and, while the job is not done, Slurm's state."""
    from genbench.suite.cluster import job_key, job_state

    entry = submitted.get(job_key(planned.job))
    if entry is None:
        return "-"
    state = "" if planned.action == "done" else f" {job_state(entry, folder)}"
    return f"{entry['executor']} {entry['job_id']}{state}"


@suite_app.command("list")
def suite_list() -> None:
    """Registered suites: version, benchmarks, models, budget, seeds, default device."""
    from genbench.plugins import get_plugins

    table = Table(header_style="bold")
    for col in ("suite", "version", "entries", "device", "description"):
        table.add_column(col)
    for suite in get_plugins().suites.values():
        entries = "\n".join(
            f"{e.benchmark} · {e.budget} · {'all models' if e.models is None else ', '.join(e.models)} · "
            f"seeds {','.join(map(str, e.seeds))}" + (f" · {' '.join(e.sets)}" if e.sets else "")
            for e in suite.entries
        )
        table.add_row(suite.name, str(suite.version), entries, suite.device, suite.description)
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(suite_app, name="suite")
