"""``genbench report``: the static HTML report, added through the command hook (a default plugin)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from genbench import hookimpl

console = Console()


def report(
    out: Annotated[Path, typer.Option("--out", help="Folder for index.html and its images.")] = Path("results/report"),
    dataset: Annotated[Optional[str], typer.Option("--dataset", "-d", help="Only this dataset's runs.")] = None,
    metric: Annotated[
        Optional[str], typer.Option("--metric", help="Sort tables and plot Pareto fronts by this metric.")
    ] = None,
    pareto_x: Annotated[
        str, typer.Option("--pareto-x", help="Pareto plots' cost axis: train_seconds or images_seen.")
    ] = "train_seconds",
    results_dir: Annotated[
        Path, typer.Option("--results-dir", envvar="GENBENCH_RESULTS", help="Runs and artifacts are read from here.")
    ] = Path("results"),
    db: Annotated[
        Optional[str],
        typer.Option("--db", envvar="GENBENCH_DB", help="SQLAlchemy URL; default SQLite in the results folder."),
    ] = None,
) -> None:
    """Write a static HTML report (leaderboards, Pareto plots, each run's samples, losses and metadata)."""
    from genbench.errors import GenbenchError
    from genbench.report.html import check_out, write_report
    from genbench.store import Store, default_db_url

    if pareto_x not in ("train_seconds", "images_seen"):
        raise GenbenchError(f"--pareto-x {pareto_x}: choose train_seconds or images_seen")
    check_out(out)  # a file given as --out: one line before the store is opened
    from genbench.store.db import sqlite_file

    url = db or default_db_url(results_dir)
    if (path := sqlite_file(url)) is not None and not path.exists():  # reading never creates a store
        raise GenbenchError(f"nothing to report: there is no store at {path} (--results-dir/--db point at one)")
    store = Store(url)
    index = write_report(store, out, dataset=dataset, metric=metric, pareto_x=pareto_x,  # type: ignore[arg-type]
                         warn=lambda m: console.print(f"note: {m}", markup=False, highlight=False, soft_wrap=True),
                         results_dir=results_dir)  # fmt: skip
    console.print(f"report: {index.resolve()}", soft_wrap=True)


def compare(
    a: Annotated[str, typer.Argument(help="A run id, or a model name (every seed of its row).")],
    b: Annotated[str, typer.Argument(help="The run id or model name to compare A with.")],
    metric: Annotated[
        Optional[str], typer.Option("--metric", help="Compare on this metric (default: each task's headline).")
    ] = None,
    dataset: Annotated[Optional[str], typer.Option("--dataset", "-d", help="Only this dataset's boards.")] = None,
    benchmark: Annotated[Optional[str], typer.Option("--benchmark", help="Only this benchmark's boards.")] = None,
    budget: Annotated[Optional[str], typer.Option("--budget", help="Only this budget's boards.")] = None,
    format: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
    results_dir: Annotated[
        Path, typer.Option("--results-dir", envvar="GENBENCH_RESULTS", help="Runs and artifacts are read from here.")
    ] = Path("results"),
    db: Annotated[
        Optional[str],
        typer.Option("--db", envvar="GENBENCH_DB", help="SQLAlchemy URL; default SQLite in the results folder."),
    ] = None,
) -> None:
    """A minus B with its 95% interval and P(A better than B) over seeds and evaluation noise."""
    import json

    from rich.table import Table

    from genbench.errors import GenbenchError
    from genbench.report.compare import compare as compare_runs
    from genbench.report.tables import fmt_value, interval_text
    from genbench.store import Store, default_db_url

    if format not in ("table", "json"):
        raise GenbenchError(f"--format {format}: choose table or json")
    store = Store(db or default_db_url(results_dir))
    board, records = compare_runs(store, a, b, metric=metric, dataset=dataset, benchmark=benchmark, budget=budget)
    if format == "json":
        print(json.dumps(records, indent=2))
        return
    console.print(f"[bold]A[/] = {a}, [bold]B[/] = {b} · {board.title}", highlight=False)
    for r in records:
        arrow = "lower is better" if r["direction"] == "min" else "higher is better"
        table = Table(show_header=False, box=None, padding=(0, 2, 0, 2))
        table.add_column("what", no_wrap=True)
        table.add_column("value", overflow="fold")
        seeds = lambda n: f"({n} seed{'s' if n != 1 else ''})"  # noqa: E731
        table.add_row("A", f"{fmt_value(r['a_mean'])} {seeds(r['a_seeds'])}")
        table.add_row("B", f"{fmt_value(r['b_mean'])} {seeds(r['b_seeds'])}")
        diff = fmt_value(r["difference"])
        if r["ci_low"] is not None:
            diff += f" {interval_text(r['ci_low'], r['ci_high'])} ({r['ci_method']})"
        table.add_row("A − B, 95%", diff)
        table.add_row("P(A better)", f"{r['p_a_better']:.2f}")
        table.add_row("leaderboard", "resolved: different ranks" if r["resolved"] else "not resolved: a shared rank")
        console.print(f"[bold]{r['metric']}[/] ({arrow})", highlight=False)
        console.print(table)
    console.print(
        "interval: paired t over matching seeds, else Welch t (seeds) with each single run's evaluation "
        "interval; P(A better): a random run of A beats one of B, evaluation noise included",
        highlight=False,
        style="dim",
    )


def register(app: typer.Typer) -> None:
    app.command("report")(report)
    app.command("compare")(compare)


@hookimpl
def genbench_register_commands(app: typer.Typer) -> None:
    register(app)
