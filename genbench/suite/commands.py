"""``genbench suite run|status|list`` and ``genbench benchmarks``, added through the command hook."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

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
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Jobs at once, each in its own process.")] = 1,
    device: Annotated[Optional[str], typer.Option("--device", help="auto, cpu or cuda; default: the suite's.")] = None,
    seeds: SeedsOpt = None,
    data_dir: Annotated[Optional[str], typer.Option("--data-dir", envvar="GENBENCH_DATA", help="Data root.")] = None,
    results_dir: ResultsOpt = Path("results"),
    db: DbOpt = None,
) -> None:
    """Run what a suite still lacks: finished runs are kept, interrupted or dead ones resumed, the rest started."""
    from genbench.errors import GenbenchError
    from genbench.plugins import get_plugins
    from genbench.suite import get_suite, parse_seeds
    from genbench.suite.executor import execute
    from genbench.suite.plan import plan

    if jobs < 1:
        raise GenbenchError(f"--jobs {jobs}: give 1 or more")
    plugins = get_plugins()
    suite = get_suite(name, plugins.suites)
    store = _store(results_dir, db)  # created here, once, before any job opens it
    planned = plan(suite, plugins, store, parse_seeds(seeds) if seeds else None)
    device = device or suite.device
    todo = sum(p.action in ("start", "resume", "restart") for p in planned)
    if todo:  # a missing GPU or data folder is one message now, not one failed job per model
        from genbench.data import load_dataset
        from genbench.engine.device import resolve_device

        resolve_device(device)
        for name in dict.fromkeys(p.job.dataset for p in planned if p.action != "done"):
            load_dataset(name, data_dir)
    console.print(
        f"suite [bold]{suite.name}[/] v{suite.version}: {len(planned)} jobs, {len(planned) - todo} already done or "
        f"running, {todo} to run with --jobs {jobs} on {device}"
    )
    started = time.monotonic()
    cpu_before = _children_cpu()
    live = None
    if console.is_terminal:
        from rich.live import Live

        live = Live(console=console, refresh_per_second=2, transient=False)
        live.start()
    last_line = [0.0]

    def on_update(progress) -> None:  # type: ignore[no-untyped-def]
        if live is not None:
            live.update(_view(suite.name, progress, started))
        elif time.monotonic() - last_line[0] > 30:  # a log file gets a plain line now and then
            last_line[0] = time.monotonic()
            console.print(_head(suite.name, progress, started), highlight=False)

    def on_event(message: str) -> None:
        (live.console if live else console).print(f"[dim]{time.strftime('%H:%M:%S')}[/] {message}", highlight=False)

    try:
        progress = execute(
            planned, suite_name=suite.name, store=store, results_dir=results_dir, db_url=db, device=device, jobs=jobs,
            data_dir=data_dir, on_update=on_update, on_event=on_event,
        )  # fmt: skip
    finally:
        if live is not None:
            live.stop()
    wall = time.monotonic() - started
    # CPU time of the jobs says what the suite costs on idle cores when the machine is shared.
    console.print(
        f"suite {suite.name}: {progress.done} of {progress.total} done, {progress.failed} failed, "
        f"wall time {wall:.1f} s with --jobs {jobs}, jobs' CPU time {_children_cpu() - cpu_before:.1f} s"
    )
    if progress.failed:
        console.print("failed jobs' logs are under " + str(results_dir / "suites" / suite.name / "logs"))
        raise typer.Exit(1)


@suite_app.command("status")
def suite_status(
    name: Annotated[str, typer.Argument(help="Suite name or path to a .suite.yaml file.")],
    seeds: SeedsOpt = None,
    results_dir: ResultsOpt = Path("results"),
    db: DbOpt = None,
) -> None:
    """Each job of a suite: done, running, to resume or to start, with its run."""
    from genbench.plugins import get_plugins
    from genbench.suite import get_suite, parse_seeds
    from genbench.suite.plan import plan

    plugins = get_plugins()
    suite = get_suite(name, plugins.suites)
    planned = plan(suite, plugins, _store(results_dir, db), parse_seeds(seeds) if seeds else None)
    table = Table(title=f"suite {suite.name} v{suite.version}", title_justify="left", header_style="bold")
    for col in ("model", "family", "benchmark", "budget", "seed", "settings", "state", "run", "wall s"):
        # Names, states and run ids are never cut (a reader greps them); the rest wraps.
        table.add_column(col, justify="right" if col in ("seed", "wall s") else "left",
                         no_wrap=col in ("model", "state", "run"))  # fmt: skip
    style = {"done": "green", "running": "cyan", "resume": "yellow", "restart": "yellow", "start": ""}
    for p in planned:
        j, r = p.job, p.run
        state = {"done": r.status if r else "done", "start": "to start" if not r else f"to start ({r.status} before)"}
        text = state.get(p.action, p.action)
        table.add_row(
            j.model, j.family, j.benchmark, j.budget, str(j.seed), " ".join(j.sets) or "-",
            f"[{style[p.action]}]{text}[/]" if style[p.action] else text, r.id if r else "-",
            f"{r.wall_seconds:.0f}" if r else "-",
        )  # fmt: skip
    console.print(table)
    words = {"done": "done", "running": "running elsewhere", "resume": "to resume", "restart": "to restart",
             "start": "to start"}  # fmt: skip
    counts = {w: sum(p.action == a for p in planned) for a, w in words.items()}
    console.print(", ".join(f"{n} {w}" for w, n in counts.items() if n))


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
