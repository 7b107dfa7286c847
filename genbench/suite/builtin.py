"""genbench's own suites and the suite commands, registered through the public hooks."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from genbench import hookimpl

if TYPE_CHECKING:
    import typer


@hookimpl
def genbench_register_benchmarks() -> list[Path]:
    return sorted((Path(__file__).parent / "suites").glob("*.suite.yaml"))


@hookimpl
def genbench_register_commands(app: typer.Typer) -> None:
    from genbench.suite.commands import register as register_suite

    register_suite(app)
