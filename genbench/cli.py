"""The ``genbench`` command line. Thin: parses, calls the library, renders."""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from collections.abc import Collection
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from genbench.errors import GenbenchError, PluginFault

app = typer.Typer(
    name="genbench",
    help="Train, evaluate and rank generative models under standard protocols.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)


class Budget(str, Enum):
    smoke = "smoke"
    quick = "quick"
    standard = "standard"


class Format(str, Enum):
    table = "table"
    markdown = "markdown"
    csv = "csv"
    json = "json"


class ListFormat(str, Enum):
    table = "table"
    json = "json"


class Status(str, Enum):  # genbench.store.schema.RUN_STATUSES (a test keeps the two equal)
    running = "running"
    evaluating = "evaluating"
    finished = "finished"
    failed = "failed"
    interrupted = "interrupted"
    diverged = "diverged"


ResultsOpt = Annotated[
    Path, typer.Option("--results-dir", envvar="GENBENCH_RESULTS", help="Runs and artifacts go here.")
]
DbOpt = Annotated[
    Optional[str],
    typer.Option("--db", envvar="GENBENCH_DB", help="SQLAlchemy URL; default SQLite in the results folder."),
]
SetOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--set",
        help="key=value override, repeatable: bare keys set the model's config, train.* and eval.* the engine's "
        "(e.g. --set lr=1e-3 --set train.batch_size=32).",
    ),
]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto (GPU when present), cpu, cuda or cuda:N.")]
FormatOpt = Annotated[ListFormat, typer.Option("--format", "-f", help="table for people, json for scripts.")]

PLAIN_EVERY_S = 30.0  # seconds between progress lines when stderr is not a terminal (logs, CI)
_state: dict[str, bool] = {"debug": False}


def _debug() -> bool:
    return _state["debug"] or os.environ.get("GENBENCH_DEBUG", "") not in ("", "0")


def _runner(results_dir: Path, db: str | None, progress: EvalProgress | None = None):  # type: ignore[no-untyped-def]
    from genbench.engine.runner import Runner

    return Runner(
        results_dir,
        db,
        notice=lambda m: err_console.print(f"[yellow]note:[/] {m}", highlight=False, soft_wrap=True),
        progress=progress,
        phase=lambda m: err_console.print(f"[bold]{m}[/]", highlight=False, soft_wrap=True),
    )


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"


class PlainReporter:
    """Training progress as a plain line every PLAIN_EVERY_S seconds: what a log file or CI shows."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.total = 0
        self.last_line = 0.0
        self.t0 = 0.0
        self.done0 = 0
        self.line = ""

    def start(self, total_images: int, done_images: int) -> None:
        self.total, self.done0 = total_images, done_images
        self.t0 = self.last_line = time.monotonic()
        err_console.print(f"{self.label}: training for {total_images:,} images", highlight=False, soft_wrap=True)

    def update(self, images_seen: int, losses: dict[str, float], images_per_s: float) -> None:
        stats = " ".join(f"{k}={v:.4g}" for k, v in losses.items())
        eta = (self.total - images_seen) / images_per_s if images_per_s > 0 else 0.0
        self.line = (
            f"{self.label}: {images_seen:,}/{self.total:,} images ({100 * images_seen / max(self.total, 1):.0f}%) "
            f"{stats} {images_per_s:,.0f} img/s, {_duration(eta)} left"
        )
        if time.monotonic() - self.last_line >= PLAIN_EVERY_S:
            self.last_line = time.monotonic()
            err_console.print(self.line, highlight=False, soft_wrap=True)
            self.line = ""

    def stop(self) -> None:
        if self.line:
            err_console.print(self.line, highlight=False, soft_wrap=True)
        took = _duration(time.monotonic() - self.t0)
        err_console.print(f"{self.label}: training stopped after {took}", highlight=False)


def _reporter(label: str):  # type: ignore[no-untyped-def]
    return RichReporter(label) if err_console.is_terminal else PlainReporter(label)


class EvalProgress:
    """Evaluation's progress(task, done, total): a bar per task on a terminal, else occasional lines."""

    def __init__(self) -> None:
        self.plain = not err_console.is_terminal
        self.progress = None
        self.tasks: dict[str, object] = {}
        self.started: dict[str, float] = {}
        self.last_line: dict[str, float] = {}

    def __call__(self, task: str, done: int, total: int) -> None:
        now = time.monotonic()
        first = task not in self.started
        if first:
            self.started[task] = now
            self.last_line[task] = now
        if self.plain:
            self._line(task, done, total, now, first)
            return
        if self.progress is None:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )  # fmt: skip

            self.progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                TimeRemainingColumn(), console=err_console,
            )  # fmt: skip
            self.progress.start()
        if first:
            self.tasks[task] = self.progress.add_task(task, total=total)
        self.progress.update(self.tasks[task], completed=done, total=total)

    def _line(self, task: str, done: int, total: int, now: float, first: bool) -> None:
        elapsed = now - self.started[task]
        if task.startswith("metric "):  # a whole metric: say when it starts and how long it took
            said = "started" if done < total else f"done in {elapsed:.1f} s"
            err_console.print(f"{task}: {said}", highlight=False)
            return
        if done >= total or (not first and now - self.last_line[task] >= PLAIN_EVERY_S):
            self.last_line[task] = now
            rate = done / elapsed if elapsed > 0 else 0.0
            left = f", {_duration((total - done) / rate)} left" if 0 < done < total and rate > 0 else ""
            err_console.print(
                f"{task}: {done:,}/{total:,} ({rate:,.0f}/s{left})" if done < total
                else f"{task}: {total:,} done in {elapsed:.1f} s",
                highlight=False,
            )  # fmt: skip

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


class RichReporter:
    """Progress bar with loss, images/s and ETA."""

    def __init__(self, label: str) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("images"),
            TextColumn("{task.fields[stats]}"),
            TimeRemainingColumn(),
            console=err_console,
            transient=False,
        )
        self.label = label
        self.task = None

    def start(self, total_images: int, done_images: int) -> None:
        self.progress.start()
        self.task = self.progress.add_task(self.label, total=total_images, completed=done_images, stats="")

    def update(self, images_seen: int, losses: dict[str, float], images_per_s: float) -> None:
        stats = " ".join(f"{k}={v:.4g}" for k, v in losses.items()) + f" {images_per_s:,.0f} img/s"
        self.progress.update(self.task, completed=images_seen, stats=stats)

    def stop(self) -> None:
        self.progress.stop()


def _print_outcome(runner, outcome) -> None:  # type: ignore[no-untyped-def]
    from genbench.report.leaderboard import rank_of
    from genbench.report.tables import fmt_value

    run = outcome.run
    style = {"finished": "green", "interrupted": "yellow"}.get(run.status, "red")
    console.print(
        f"run [bold]{run.id}[/] {run.family}/{run.model} on {run.dataset} ({run.budget}, seed {run.seed}): "
        f"[{style}]{run.status}[/]" + (f" — {run.message}" if run.message else "")
    )
    if outcome.train is not None and outcome.train.loop_seconds > 0:
        tr = outcome.train
        console.print(
            f"trained {run.images_seen:,} images in {run.wall_seconds:.1f} s "
            f"({tr.images_seen / max(tr.loop_seconds, 1e-9):,.0f} img/s this session)"
        )
    if not outcome.scores:
        return
    table = Table(header_style="bold")
    for col in ("metric", "value", "", "rank", "fingerprint", "seconds"):
        table.add_column(col, justify="right" if col in ("value", "rank", "seconds") else "left", no_wrap=True)
    for sc in outcome.scores:
        rank = rank_of(runner.store, run.id, sc.name, sc.fingerprint_hash)
        table.add_row(
            sc.name,
            fmt_value(sc.value),
            ("↓ " if sc.direction == "min" else "↑ ") + sc.unit,
            f"{rank[0]} of {rank[1]}" if rank else "-",
            sc.fingerprint_hash,
            f"{sc.seconds:.1f}",
        )
    console.print(table)
    settings = {k: v for sc in outcome.scores for k, v in sc.settings.items()}  # the model's eval settings, shared
    if settings:
        console.print("eval settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()), highlight=False)
    for art in run.artifacts:
        console.print(f"[dim]{art.kind}: {art.path}[/]")
    if run.budget == "smoke" and run.status == "finished":
        console.print(
            "[dim]smoke is a plumbing check (a few thousand images): its samples are expected to look like noise; "
            "--budget quick gives a first real result[/]"
        )


@app.command()
def run(
    family: Annotated[str, typer.Argument(help="Model family (e.g. vae, gan, diffusion) or a model name.")],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Dataset name; `genbench datasets` lists them.")],
    model: Annotated[
        Optional[str], typer.Option("--model", "-m", help="Model of the family; default: its default.")
    ] = None,
    budget: Annotated[
        Budget,
        typer.Option(
            "--budget", "-b", help="Training budget in images seen; `genbench benchmarks` lists each dataset's."
        ),
    ] = Budget.quick,
    benchmark: Annotated[
        Optional[str], typer.Option("--benchmark", help="Benchmark; default: the dataset's (`genbench benchmarks`).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed for initialisation and data order.")] = 0,
    set_: SetOpt = None,
    device: DeviceOpt = "auto",
    data_dir: Annotated[
        Optional[str],
        typer.Option("--data-dir", envvar="GENBENCH_DATA", help="Data root folder holding e.g. MNIST/raw/."),
    ] = None,
    results_dir: ResultsOpt = Path("results"),
    db: DbOpt = None,
    stop_after_steps: Annotated[
        int, typer.Option("--stop-after-steps", hidden=True, help="Stop as a Ctrl-C would at this step (tests).")
    ] = 0,
    threads: Annotated[
        int, typer.Option("--threads", help="CPU threads for torch; 0: $OMP_NUM_THREADS, else the idle CPUs (max 4).")
    ] = 0,
    nproc: Annotated[
        int, typer.Option("--nproc", help="Train one run with this many processes here (torchrun, DDP).")
    ] = 0,
) -> None:
    """Train a model under the benchmark protocol, evaluate it, store the run and show its rank."""
    from genbench.engine import distributed
    from genbench.engine.runner import RunRequest

    req = RunRequest(
        family, dataset, model, budget.value, benchmark, seed, set_ or [], device, data_dir, stop_after_steps
    )
    req.threads = threads
    if nproc > 1:
        distributed.check_request(req, nproc)
        raise typer.Exit(distributed.launch(nproc, sys.argv[1:]))
    label = f"{family} {model or ''} {dataset}".replace("  ", " ")
    progress = EvalProgress()
    runner = _runner(results_dir, db, progress)
    try:
        outcome = runner.run(req, _reporter(label))
    finally:
        progress.close()
    if not distributed.is_main():  # torchrun's other ranks: rank 0 shows the run
        return
    _print_outcome(runner, outcome)
    if outcome.run.status == "diverged":
        raise typer.Exit(1)


@app.command()
def resume(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    device: DeviceOpt = "auto",
    results_dir: ResultsOpt = Path("results"),
    db: DbOpt = None,
) -> None:
    """Continue an interrupted run from its last checkpoint, then evaluate it."""
    from genbench.engine import distributed

    progress = EvalProgress()
    runner = _runner(results_dir, db, progress)
    try:
        outcome = runner.resume(run_id, _reporter(f"resume {run_id}"), device)
    finally:
        progress.close()
    if not distributed.is_main():  # torchrun's other ranks: rank 0 shows the run
        return
    _print_outcome(runner, outcome)


@app.command("eval")
def eval_(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    set_: SetOpt = None,
    device: DeviceOpt = "auto",
    results_dir: ResultsOpt = Path("results"),
    db: DbOpt = None,
    metric: Annotated[
        Optional[list[str]], typer.Option("--metric", help="Score only these metrics (repeatable), e.g. probe-acc.")
    ] = None,
) -> None:
    """Re-evaluate a finished run's checkpoint, e.g. `--set sampler=ddim --set steps=50 --set eval.num_samples=5000`."""
    progress = EvalProgress()
    runner = _runner(results_dir, db, progress)
    try:
        outcome = runner.evaluate(run_id, set_ or [], device, metric or None)
    finally:
        progress.close()
    _print_outcome(runner, outcome)


@app.command()
def leaderboard(
    dataset: Annotated[Optional[str], typer.Option("--dataset", "-d", help="Only this dataset's boards.")] = None,
    benchmark: Annotated[Optional[str], typer.Option("--benchmark", help="Only this benchmark's boards.")] = None,
    metric: Annotated[Optional[str], typer.Option("--metric", help="Only this metric's boards.")] = None,
    format: Annotated[
        Format, typer.Option("--format", "-f", help="table for people; markdown, csv or json to share.")
    ] = Format.table,
    results_dir: ResultsOpt = Path("results"),
    db: DbOpt = None,
) -> None:
    """Finished runs ranked per metric; only comparable values share a table. Mean ± std over seeds."""
    from genbench.plugins import get_plugins
    from genbench.report.leaderboard import build_boards
    from genbench.report.tables import board_table, boards_markdown, boards_records, records_csv

    plugins = get_plugins()
    if dataset:
        plugins.datasets.get(dataset)
    if benchmark:
        plugins.benchmark(benchmark)
    if metric:
        plugins.metrics.get(metric)
    store = _runner(results_dir, db).store
    boards = build_boards(store, dataset=dataset, benchmark=benchmark, metric=metric)
    if format is Format.json:
        print(json.dumps(boards_records(boards), indent=2))
    elif format is Format.csv:
        print(records_csv(boards_records(boards)), end="")
    elif format is Format.markdown:
        print(boards_markdown(boards))
    elif not boards:
        console.print(_empty_leaderboard_message(store, dataset=dataset, benchmark=benchmark, metric=metric))
    else:
        for board in boards:
            console.print(board_table(board))


def _empty_leaderboard_message(store, **filters: str | None) -> str:  # type: ignore[no-untyped-def]
    """What an empty leaderboard means for the filter given: nothing finished at all, or nothing that matches."""
    from sqlalchemy import func, select

    from genbench.store.schema import Run

    with store.session() as s:
        finished = s.scalar(select(func.count()).select_from(Run).where(Run.status == "finished")) or 0
    given = " ".join(f"--{k} {v}" for k, v in filters.items() if v)
    if not finished:
        return "no finished runs yet: `genbench run vae --dataset digits --budget smoke` makes one"
    if not given:
        return f"{finished} finished run(s), none with a metric value to rank: `genbench runs` lists them"
    return f"no finished run matches {given} ({finished} finished run(s) in all: `genbench leaderboard` shows them)"


@app.command()
def runs(
    dataset: Annotated[Optional[str], typer.Option("--dataset", "-d", help="Only runs on this dataset.")] = None,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Only runs of this model.")] = None,
    family: Annotated[Optional[str], typer.Option("--family", help="Only runs of this model family.")] = None,
    status: Annotated[Optional[Status], typer.Option("--status", help="Only runs with this status.")] = None,
    format: FormatOpt = ListFormat.table,
    results_dir: ResultsOpt = Path("results"),
    db: DbOpt = None,
) -> None:
    """List stored runs, newest first. Piped, it prints plain full-width lines (`genbench runs | grep dcgan`)."""
    from sqlalchemy import func, select

    from genbench.store.db import shown_status
    from genbench.store.schema import Run

    query = select(Run).order_by(Run.created_at.desc())
    filters = {"dataset": dataset, "model": model, "family": family, "status": status.value if status else None}
    for col, value in zip((Run.dataset, Run.model, Run.family, Run.status), filters.values()):
        if value:
            query = query.where(col == value)
    with _runner(results_dir, db).store.session() as s:
        rows = s.scalars(query).all()
        if format is ListFormat.json:
            print(json.dumps([_run_record(r) for r in rows], indent=2, default=str))
            return
        if not rows:
            stored = s.scalar(select(func.count()).select_from(Run)) or 0
            given = " ".join(f"--{k} {v}" for k, v in filters.items() if v)
            if stored and given:
                console.print(f"no run matches {given} ({stored} run(s) stored: `genbench runs` lists them)")
            else:
                console.print("no runs yet: `genbench run vae --dataset digits --budget smoke` makes one")
            return
        headers = ["id", "status", "model", "dataset", "budget", "seed", "images", "wall s", "created"]
        cells = [
            [
                r.id, shown_status(r), f"{r.family}/{r.model}", r.dataset, r.budget, str(r.seed),
                f"{r.images_seen:,}", f"{r.wall_seconds:.1f}", f"{r.created_at:%Y-%m-%d %H:%M}",
            ]
            for r in rows
        ]  # fmt: skip
    # Columns give way in this order when the terminal is narrow; id and model are never cut.
    importance = ["id", "model", "status", "dataset", "budget", "created", "seed", "images", "wall s"]
    print_columns(headers, cells, importance, right={"seed", "images", "wall s"})


def print_columns(
    headers: list[str], cells: list[list[str]], importance: list[str], right: Collection[str] = ()
) -> None:
    """A table that fits the terminal: the least important columns are left out until the rest fit
    whole. Piped (not a terminal), every column in plain space-aligned lines, nothing cut."""
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]
    if not console.is_terminal:
        for line in [headers, *cells]:
            padded = (v.rjust(w) if h in right else v.ljust(w) for v, w, h in zip(line, widths, headers))
            print("  ".join(padded).rstrip())
        return
    keep: list[str] = []
    used = 1
    for name in importance:
        need = widths[headers.index(name)] + 3  # a cell's padding and its border
        if not keep or used + need <= console.width:
            keep.append(name)
            used += need
    table = Table(header_style="bold")
    for i, h in enumerate(headers):
        if h in keep:
            table.add_column(h, no_wrap=True, min_width=widths[i], justify="right" if h in right else "left")
    for row in cells:
        table.add_row(*(v for v, h in zip(row, headers) if h in keep))
    console.print(table)
    hidden = [h for h in headers if h not in keep]
    if hidden:
        console.print(
            f"[dim]{', '.join(hidden)} left out to fit {console.width} columns; --format json has them all[/]"
        )


def _run_record(r) -> dict:  # type: ignore[no-untyped-def]
    return {c.name: getattr(r, c.name) for c in r.__table__.columns}


@app.command()
def show(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    results_dir: ResultsOpt = Path("results"),
    db: DbOpt = None,
) -> None:
    """A run's config, metrics, timings, loss summary and artifact paths."""
    from sqlalchemy import select

    from genbench.report.tables import fmt_value
    from genbench.store.db import shown_status
    from genbench.store.schema import LossPoint

    store = _runner(results_dir, db).store
    r = store.get_run(run_id)
    console.print(f"[bold]run {r.id}[/]  {r.family}/{r.model} on {r.dataset}  status [bold]{shown_status(r)}[/]")
    if r.message:
        console.print(f"message: {r.message}")
    facts = Table(show_header=False, box=None)
    for key, value in (
        ("benchmark", f"{r.benchmark} v{r.benchmark_version}, budget {r.budget} ({r.budget_images:,} images)"),
        ("seed", r.seed),
        ("progress", f"{r.images_seen:,} images, {r.steps:,} steps"),
        ("wall time", f"{r.wall_seconds:.1f} s (model steps {r.train_seconds:.1f} s)"),
        ("device", f"{r.device}: {r.hardware}"),
        ("parameters", f"{r.num_params:,}"),
        ("config hash", r.config_hash),
        ("git commit", r.git_commit or "unknown (genbench was not run from a git checkout)"),
        ("versions", ", ".join(f"{k} {v}" for k, v in r.versions.items())),
        ("created", f"{r.created_at:%Y-%m-%d %H:%M:%S} UTC, heartbeat {r.heartbeat:%H:%M:%S}"),
    ):
        facts.add_row(f"[dim]{key}[/]", str(value))
    console.print(facts)
    console.print("[bold]config[/]")
    used = {m.fingerprint.get("num_samples") for m in r.metrics} - {None}
    for section, values in r.config.items():
        if section == "skipped_metrics" or not isinstance(values, dict) or not values:
            continue
        if section == "eval" and not values.get("num_samples") and used:
            # 0 means "the benchmark's count for the budget": show the count the metrics used.
            values = {**values, "num_samples": f"{'/'.join(map(str, sorted(used)))} (the benchmark's)"}
        console.print(f"  {section}: " + ", ".join(f"{k}={v}" for k, v in values.items()))
    for line in _skipped_lines(r.config.get("skipped_metrics") or {}):
        console.print(f"  {line}")
    if r.metrics:
        table = Table(title="metrics", title_justify="left", header_style="bold")
        for col in ("metric", "value", "settings", "fingerprint", "samples"):
            table.add_column(col, no_wrap=col != "settings")  # settings wrap; ids and numbers are never cut
        for m in r.metrics:
            table.add_row(
                m.name, fmt_value(m.value) + (f" {m.unit}" if m.unit else ""),
                ", ".join(f"{k}={v}" for k, v in m.settings.items()), m.fingerprint_hash,
                _samples_used(m.fingerprint),
            )  # fmt: skip
        console.print(table)
    with store.session() as s:
        points = s.scalars(select(LossPoint).where(LossPoint.run_id == r.id).order_by(LossPoint.step)).all()
        curves: dict[str, list[float]] = {}
        for p in points:
            curves.setdefault(p.name, []).append(p.value)
    if curves:
        console.print("[bold]logged during training[/] (interval means)")
    for name, values in curves.items():
        summary = f"first {values[0]:.4g}, last {values[-1]:.4g}, min {min(values):.4g} ({len(values)} points)"
        console.print(f"  {name}: {summary}")
    for art in r.artifacts:
        console.print(f"{art.kind}: {art.path}")


def _samples_used(fingerprint: dict) -> str:
    """How many images the metric scored: test images for a likelihood, else generated samples."""
    if "dequantization" in fingerprint and fingerprint.get("reference_count"):
        return f"{fingerprint['reference_count']:,} (test)"
    return f"{fingerprint['num_samples']:,}" if fingerprint.get("num_samples") else "-"


def _skipped_lines(skipped: dict[str, str]) -> list[str]:
    from genbench.engine.evaluate import grouped_reasons

    return grouped_reasons(skipped) if skipped else []


@app.command()
def plugins(format: FormatOpt = ListFormat.table) -> None:
    """Installed plugins (by distribution), their versions and what they register; broken ones with why."""
    from genbench.plugins import get_plugins

    infos = get_plugins().info
    if format is ListFormat.json:
        records = [
            {
                "distribution": i.distribution or None, "entry_point": i.name, "version": i.version,
                "builtin": i.builtin, "registers": i.registers, "error": i.error, "clashes": i.clashes,
            }
            for i in infos
        ]  # fmt: skip
        print(json.dumps(records, indent=2))
        return
    table = Table(header_style="bold")
    for col in ("plugin", "entry point", "version", "registers", "status"):
        table.add_column(col, overflow="fold")
    for info in infos:
        registers = "; ".join(f"{k}: {', '.join(v)}" for k, v in info.registers.items() if v)
        if info.error:
            status = f"[red]broken: {info.error}[/]"
        elif info.clashes:
            status = f"[red]clash: {', '.join(info.clashes)} also registered by another plugin[/]"
        else:
            status = "built-in" if info.builtin else "ok"
        table.add_row(info.label, info.name, info.version, registers or "-", status)
    console.print(table)
    clashes = [reg.clash_message(name) for reg in _registries() for name in reg.clashes]
    clashes += list(get_plugins().benchmark_clashes.values())
    for message in clashes:
        err_console.print(f"[red]clash:[/] {message}", highlight=False, soft_wrap=True)


def _registries():  # type: ignore[no-untyped-def]
    from genbench.plugins import get_plugins

    p = get_plugins()
    return (p.models, p.datasets, p.metrics)


@app.command()
def models(
    family: Annotated[Optional[str], typer.Option("--family", help="Only this family's models.")] = None,
    format: FormatOpt = ListFormat.table,
) -> None:
    """Installed model families and their models, with capabilities and the plugin that provides them."""
    from genbench.plugins import get_plugins

    p = get_plugins()
    families = p.families()
    if family is not None and family not in families:
        p.resolve_model(family, None)  # broken plugin / did-you-mean error
    specs = [spec for name, group in sorted(families.items()) if family in (None, name) for spec in group]
    if format is ListFormat.json:
        records = [
            {
                "family": m.family, "model": m.name, "default": m.default, "capabilities": sorted(m.capabilities),
                "plugin": p.origin(p.models.plugin_of(m.name)), "description": m.description, "paper": m.paper,
            }
            for m in specs
        ]  # fmt: skip
        print(json.dumps(records, indent=2))
        return
    headers = ["family", "model", "capabilities", "plugin", "description"]
    cells = [
        [
            m.family, m.name + (" (default)" if m.default else ""), ",".join(sorted(m.capabilities)),
            p.origin(p.models.plugin_of(m.name)), m.description,
        ]
        for m in specs
    ]  # fmt: skip
    print_columns(headers, cells, ["model", "family", "capabilities", "plugin", "description"])
    for info in p.info:
        if info.error:
            err_console.print(f"[red]plugin {info.label} is broken:[/] {info.error}", highlight=False, soft_wrap=True)


@app.command()
def benchmarks(format: FormatOpt = ListFormat.table) -> None:
    """Benchmarks: dataset, what each budget means in images seen, evaluation samples and metrics."""
    from genbench.plugins import get_plugins

    p = get_plugins()
    if format is ListFormat.json:
        records = [
            {
                "benchmark": b.name, "version": b.version, "dataset": b.dataset,
                "budgets": {k: {"images": v, "eval_samples": b.num_samples[k]} for k, v in b.budgets.items()},
                "metrics": list(b.metrics), "optional_metrics": list(b.optional_metrics), "description": b.description,
            }
            for b in p.benchmarks.values()
        ]  # fmt: skip
        print(json.dumps(records, indent=2))
        return
    table = Table(header_style="bold")
    for col in ("benchmark", "dataset", "budget", "images seen", "eval samples"):
        table.add_column(col, justify="right" if col in ("images seen", "eval samples") else "left", no_wrap=True)
    ordered = sorted(p.benchmarks.values(), key=lambda b: b.name)
    for b in ordered:
        for i, (budget, images) in enumerate(b.budgets.items()):
            table.add_row(
                f"{b.name} v{b.version}" if i == 0 else "", b.dataset if i == 0 else "", budget,
                f"{images:,}", f"{b.num_samples.get(budget, 0):,}", end_section=i == len(b.budgets) - 1,
            )  # fmt: skip
    console.print(table)
    console.print("images seen: training examples drawn, so 60,000 on MNIST is one pass over its training set")
    for b in ordered:
        needed = f"required {', '.join(b.metrics)}; " if b.metrics else ""
        console.print(f"{b.name} metrics: {needed}when the model can: {', '.join(b.optional_metrics) or '-'}")


@app.command()
def datasets(format: FormatOpt = ListFormat.table) -> None:
    """Registered datasets with their shape, classes and benchmark."""
    from genbench.plugins import get_plugins

    p = get_plugins()
    if format is ListFormat.json:
        records = [
            {
                "dataset": d.name, "shape": list(d.shape), "num_classes": d.num_classes,
                "benchmarks": [b.name for b in p.benchmarks.values() if b.dataset == d.name],
                "needs_files": d.needs_files, "layout": d.layout, "description": d.description,
            }
            for d in p.datasets
        ]  # fmt: skip
        print(json.dumps(records, indent=2))
        return
    table = Table(header_style="bold")
    for col in ("dataset", "shape", "classes", "benchmark", "files", "description"):
        table.add_column(col)
    for spec in p.datasets:
        benches = ", ".join(f"{b.name} v{b.version}" for b in p.benchmarks.values() if b.dataset == spec.name)
        files = spec.layout if spec.needs_files else "none needed"
        table.add_row(
            spec.name, "x".join(map(str, spec.shape)), str(spec.num_classes), benches or "-", files, spec.description
        )
    console.print(table)


@app.command()
def metrics(format: FormatOpt = ListFormat.table) -> None:
    """Registered metrics with direction, needed capability and fingerprint fields."""
    from genbench.plugins import get_plugins

    specs = list(get_plugins().metrics)
    if format is ListFormat.json:
        records = [
            {
                "metric": m.name, "direction": m.direction, "requires": m.requires, "unit": m.unit,
                "fingerprint_fields": list(m.fingerprint_fields), "description": m.description,
            }
            for m in specs
        ]  # fmt: skip
        print(json.dumps(records, indent=2))
        return
    table = Table(header_style="bold")
    for col in ("metric", "direction", "needs", "unit", "fingerprint fields", "description"):
        table.add_column(col)
    for spec in specs:
        table.add_row(
            spec.name, "lower is better" if spec.direction == "min" else "higher is better",
            spec.requires or "-", spec.unit, ", ".join(spec.fingerprint_fields), spec.description,
        )  # fmt: skip
    console.print(table)


def _version(value: bool) -> None:
    if value:
        from genbench import __version__

        print(f"genbench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print genbench's version and exit.")
    ] = False,
    debug: Annotated[
        bool,
        typer.Option("--debug", help="Print the traceback when a plugin fails (or set GENBENCH_DEBUG=1)."),
    ] = False,
) -> None:
    """Train, evaluate and rank generative models under standard protocols."""
    _state["debug"] = debug


def _add_plugin_commands() -> None:
    """Each plugin adds its commands; a plugin whose registration fails is listed as broken by
    `genbench plugins` and every other command still works."""
    try:
        from genbench.plugins import get_plugins

        get_plugins().register_commands(app)
    except GenbenchError:
        pass  # reported when a command that needs the plugins runs


def main() -> None:
    """Console-script entry point: user errors become one line and exit code 2; a fault inside a
    plugin becomes one line naming it and exit code 1 (`--debug` shows the traceback)."""
    _state["debug"] = "--debug" in sys.argv[1:]
    try:
        _add_plugin_commands()
        app()
    except GenbenchError as exc:
        from rich.markup import escape  # messages may hold [brackets], e.g. genbench[postgres]

        err_console.print(f"[red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except PluginFault as exc:
        if _debug():
            traceback.print_exception(exc.__cause__ or exc, file=sys.stderr)
        hint = "" if _debug() else " (--debug shows the traceback)"
        err_console.print(f"[red]error:[/] {exc}{hint}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
