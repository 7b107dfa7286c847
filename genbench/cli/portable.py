"""Results that leave their store: ``genbench export`` / ``genbench import``, and samples that
leave or enter genbench: ``genbench samples`` / ``genbench score``. A built-in plugin: its
commands are added through ``genbench_register_commands`` like any plugin's."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from genbench import hookimpl
from genbench.cli import output
from genbench.cli.options import DbOpt, ResultsOpt, no_store_message, open_store


@hookimpl
def genbench_register_commands(app: typer.Typer) -> None:
    from genbench.cli import score

    app.command("export")(export)
    app.command("import")(import_)
    score.register(app)


def export(
    runs: Annotated[
        Optional[list[str]], typer.Argument(help="Run ids or unique prefixes; default: all finished.")
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="The JSON-lines file to write (one run a line).")] = Path(
        "runs.jsonl"
    ),
    suite: Annotated[
        Optional[str],
        typer.Option("--suite", help="Only this suite's finished runs (name or .suite.yaml)."),
    ] = None,
    results_dir: ResultsOpt = Path("results"),
    db: DbOpt = None,
) -> None:
    """Write runs (config, versions, commit, metrics with fingerprints, losses; no checkpoints) to a file
    that `genbench import` adds to any store."""
    from genbench.errors import GenbenchError
    from genbench.store.portable import export_records, write_jsonl

    store = open_store(results_dir, db)
    if store is None:  # reading never creates a store
        raise GenbenchError(no_store_message(results_dir, db))
    ids = list(runs or [])
    if suite:
        if ids:
            raise GenbenchError("give run ids or --suite, not both")
        from genbench.plugins import get_plugins
        from genbench.suite import get_suite
        from genbench.suite.plan import plan

        plugins = get_plugins()
        planned = plan(get_suite(suite, plugins.suites), plugins, store)
        ids = [p.run.id for p in planned if p.action == "done" and p.run is not None]
        if not ids:
            raise GenbenchError(f"suite '{suite}' has no finished run in {store.display_url}: nothing to export")
    records = export_records(store, ids or None)
    if not records:
        raise GenbenchError(f"no finished run in {store.display_url}: nothing to export")
    n = write_jsonl(records, out)
    output.console.print(f"exported {n} run{'s' if n != 1 else ''} to {out}", highlight=False)


def import_(
    files: Annotated[
        list[Path], typer.Argument(help="Files written by `genbench export`, or results/ snapshot folders.")
    ],
    results_dir: ResultsOpt = Path("results"),
    db: DbOpt = None,
) -> None:
    """Add exported runs to this store; exact duplicates are refused, provenance (host, commit, file) kept."""
    from genbench.errors import GenbenchError
    from genbench.store import Store, default_db_url
    from genbench.store.portable import import_records, read_records

    store = Store(db or default_db_url(results_dir))  # importing into a new store creates it
    store.require_writable()
    batches = [(path, read_records(path)) for path in files]  # every file is read and checked before a write
    total = 0
    for path, records in batches:
        result = import_records(store, records, str(path))
        total += len(result.imported)
        line = f"{path}: imported {len(result.imported)} run{'s' if len(result.imported) != 1 else ''}"
        if result.duplicates:
            line += f", refused {len(result.duplicates)} already in the store (exact duplicates)"
        output.console.print(line, highlight=False)
    if total == 0:
        raise GenbenchError(f"nothing imported into {store.display_url}: every run given is already there")
