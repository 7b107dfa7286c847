"""The ``genbench`` command line. Thin: parses, calls the library, renders."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from genbench.errors import GenbenchError

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


ResultsOpt = Annotated[
    Path, typer.Option("--results-dir", envvar="GENBENCH_RESULTS", help="Runs and artifacts go here.")
]
DbOpt = Annotated[
    Optional[str], typer.Option("--db", envvar="GENBENCH_DB", help="SQLAlchemy URL; default SQLite in the results folder.")
]
SetOpt = Annotated[
    Optional[list[str]], typer.Option("--set", help="key=value override; train.* and eval.* address the engine.")
]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")]


def _runner(results_dir: Path, db: str | None):  # type: ignore[no-untyped-def]
    from genbench.engine.runner import Runner

    return Runner(results_dir, db, notice=lambda m: err_console.print(f"[yellow]note:[/] {m}", highlight=False))


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
    for col in ("metric", "value", "", "rank", "settings", "fingerprint", "seconds"):
        table.add_column(col, justify="right" if col in ("value", "rank", "seconds") else "left")
    for sc in outcome.scores:
        rank = rank_of(runner.store, run.id, sc.name, sc.fingerprint_hash)
        table.add_row(
            sc.name,
            fmt_value(sc.value),
            ("↓ " if sc.direction == "min" else "↑ ") + sc.unit,
            f"{rank[0]} of {rank[1]}" if rank else "-",
            ", ".join(f"{k}={v}" for k, v in sc.settings.items()),
            sc.fingerprint_hash,
            f"{sc.seconds:.1f}",
        )
    console.print(table)
    for art in run.artifacts:
        console.print(f"[dim]{art.kind}: {art.path}[/]")


@app.command()
def run(
    family: Annotated[str, typer.Argument(help="Model family (e.g. vae, gan, diffusion) or a model name.")],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Dataset name; `genbench datasets` lists them.")],
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Model of the family; default: its default.")] = None,
    budget: Annotated[Budget, typer.Option("--budget", "-b", help="Training budget (images seen).")] = Budget.quick,
    benchmark: Annotated[Optional[str], typer.Option("--benchmark", help="Benchmark; default: the dataset's.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed for initialisation and data order.")] = 0,
    set_: SetOpt = None,
    device: DeviceOpt = "auto",
    data_dir: Annotated[Optional[str], typer.Option("--data-dir", envvar="GENBENCH_DATA", help="Data root.")] = None,
    results_dir: ResultsOpt = Path("results"),
    db: DbOpt = None,
    stop_after_steps: Annotated[int, typer.Option("--stop-after-steps", hidden=True)] = 0,
) -> None:
    """Train a model under the benchmark protocol, evaluate it, store the run and show its rank."""
    from genbench.engine.runner import RunRequest

    runner = _runner(results_dir, db)
    req = RunRequest(family, dataset, model, budget.value, benchmark, seed, set_ or [], device, data_dir, stop_after_steps)
    outcome = runner.run(req, RichReporter(f"{family} {model or ''} {dataset}".replace("  ", " ")))
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
    runner = _runner(results_dir, db)
    outcome = runner.resume(run_id, RichReporter(f"resume {run_id}"), device)
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
    """Re-evaluate a finished run's checkpoint, e.g. `--set sampler=ddim --set steps=50 --set eval.num_samples=10000`."""
    runner = _runner(results_dir, db)
    _print_outcome(runner, runner.evaluate(run_id, set_ or [], device, metric or None))


@app.command()
def leaderboard(
    dataset: Annotated[Optional[str], typer.Option("--dataset", "-d")] = None,
    benchmark: Annotated[Optional[str], typer.Option("--benchmark")] = None,
    metric: Annotated[Optional[str], typer.Option("--metric")] = None,
    format: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
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
    boards = build_boards(_runner(results_dir, db).store, dataset=dataset, benchmark=benchmark, metric=metric)
    if format is Format.json:
        print(json.dumps(boards_records(boards), indent=2))
    elif format is Format.csv:
        print(records_csv(boards_records(boards)), end="")
    elif format is Format.markdown:
        print(boards_markdown(boards))
    elif not boards:
        console.print("no finished runs yet: `genbench run vae --dataset digits --budget smoke` makes one")
    else:
        for board in boards:
            console.print(board_table(board))


@app.command()
def runs(
    dataset: Annotated[Optional[str], typer.Option("--dataset", "-d")] = None,
    model: Annotated[Optional[str], typer.Option("--model", "-m")] = None,
    status: Annotated[Optional[str], typer.Option("--status")] = None,
    format: Annotated[ListFormat, typer.Option("--format", "-f")] = ListFormat.table,
    results_dir: ResultsOpt = Path("results"),
    db: DbOpt = None,
) -> None:
    """List stored runs, newest first."""
    from sqlalchemy import select

    from genbench.store.schema import RUN_STATUSES, Run

    if status and status not in RUN_STATUSES:
        raise GenbenchError(f"unknown status '{status}': choose from {', '.join(RUN_STATUSES)}")
    query = select(Run).order_by(Run.created_at.desc())
    for col, value in ((Run.dataset, dataset), (Run.model, model), (Run.status, status)):
        if value:
            query = query.where(col == value)
    with _runner(results_dir, db).store.session() as s:
        rows = s.scalars(query).all()
        if format is ListFormat.json:
            print(json.dumps([_run_record(r) for r in rows], indent=2, default=str))
            return
        table = Table(header_style="bold")
        for col in ("id", "status", "model", "dataset", "budget", "seed", "images", "wall s", "created"):
            table.add_column(col)
        for r in rows:
            table.add_row(
                r.id, r.status, f"{r.family}/{r.model}", r.dataset, r.budget, str(r.seed),
                f"{r.images_seen:,}", f"{r.wall_seconds:.1f}", f"{r.created_at:%Y-%m-%d %H:%M}",
            )  # fmt: skip
        console.print(table)


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
    from genbench.store.schema import LossPoint

    store = _runner(results_dir, db).store
    r = store.get_run(run_id)
    console.print(f"[bold]run {r.id}[/]  {r.family}/{r.model} on {r.dataset}  status [bold]{r.status}[/]")
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
        ("git commit", r.git_commit or "-"),
        ("versions", ", ".join(f"{k} {v}" for k, v in r.versions.items())),
        ("created", f"{r.created_at:%Y-%m-%d %H:%M:%S} UTC, heartbeat {r.heartbeat:%H:%M:%S}"),
    ):
        facts.add_row(f"[dim]{key}[/]", str(value))
    console.print(facts)
    console.print("[bold]config[/]")
    for section, values in r.config.items():
        if isinstance(values, dict):
            console.print(f"  {section}: " + ", ".join(f"{k}={v}" for k, v in values.items()))
    if r.metrics:
        table = Table(title="metrics", title_justify="left", header_style="bold")
        for col in ("metric", "value", "settings", "fingerprint", "samples"):
            table.add_column(col)
        for m in r.metrics:
            table.add_row(
                m.name, fmt_value(m.value) + (f" {m.unit}" if m.unit else ""),
                ", ".join(f"{k}={v}" for k, v in m.settings.items()), m.fingerprint_hash,
                str(m.fingerprint.get("num_samples", "")),
            )  # fmt: skip
        console.print(table)
    with store.session() as s:
        points = s.scalars(select(LossPoint).where(LossPoint.run_id == r.id).order_by(LossPoint.step)).all()
        curves: dict[str, list[float]] = {}
        for p in points:
            curves.setdefault(p.name, []).append(p.value)
    for name, values in curves.items():
        console.print(f"loss {name}: first {values[0]:.4g}, last {values[-1]:.4g}, min {min(values):.4g} ({len(values)} points)")
    for art in r.artifacts:
        console.print(f"{art.kind}: {art.path}")


@app.command()
def plugins() -> None:
    """Installed plugins, their versions and what they register; broken ones with why."""
    from genbench.plugins import get_plugins

    table = Table(header_style="bold")
    for col in ("plugin", "version", "registers", "status"):
        table.add_column(col)
    for info in get_plugins().info:
        registers = "; ".join(f"{k}: {', '.join(v)}" for k, v in info.registers.items() if v)
        status = f"[red]broken: {info.error}[/]" if info.error else ("built-in" if info.builtin else "ok")
        table.add_row(info.name, info.version, registers or "-", status)
    console.print(table)


@app.command()
def datasets() -> None:
    """Registered datasets with their shape, classes and benchmark."""
    from genbench.plugins import get_plugins

    p = get_plugins()
    table = Table(header_style="bold")
    for col in ("dataset", "shape", "classes", "benchmark", "files", "description"):
        table.add_column(col)
    for spec in p.datasets:
        benches = ", ".join(f"{b.name} v{b.version}" for b in p.benchmarks.values() if b.dataset == spec.name)
        files = spec.layout if spec.needs_files else "none needed"
        table.add_row(spec.name, "x".join(map(str, spec.shape)), str(spec.num_classes), benches or "-", files, spec.description)
    console.print(table)


@app.command()
def metrics() -> None:
    """Registered metrics with direction, needed capability and fingerprint fields."""
    from genbench.plugins import get_plugins

    table = Table(header_style="bold")
    for col in ("metric", "direction", "needs", "unit", "fingerprint fields", "description"):
        table.add_column(col)
    for spec in get_plugins().metrics:
        table.add_row(
            spec.name, "lower is better" if spec.direction == "min" else "higher is better",
            spec.requires or "-", spec.unit, ", ".join(spec.fingerprint_fields), spec.description,
        )  # fmt: skip
    console.print(table)


def _add_plugin_commands() -> None:
    try:
        from genbench.plugins import get_plugins

        get_plugins().manager.hook.genbench_register_commands(app=app)
    except GenbenchError:
        pass  # reported when a command that needs the plugins runs


def main() -> None:
    """Console-script entry point: user errors become one line and exit code 2."""
    try:
        _add_plugin_commands()
        app()
    except GenbenchError as exc:
        err_console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
