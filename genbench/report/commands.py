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


def register(app: typer.Typer) -> None:
    app.command("report")(report)


@hookimpl
def genbench_register_commands(app: typer.Typer) -> None:
    register(app)
