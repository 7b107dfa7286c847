"""What the commands share: option types, choices and how a command opens the store."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

if TYPE_CHECKING:
    from genbench.store import Store


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


def open_store(results_dir: Path, db: str | None) -> Store | None:
    """The store a read-only command reads, None when there is none (:func:`genbench.store.db.open_existing`)."""
    from genbench.store.db import open_existing

    return open_existing(results_dir, db)


def no_store_message(results_dir: Path, db: str | None) -> str:
    """What a read-only command says when there is no store where it looked."""
    from genbench.store.db import no_store_message as message

    return message(results_dir, db)
