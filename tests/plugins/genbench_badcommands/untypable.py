"""Registers a command typer cannot build (its option is declared twice, in the annotation and as
the default): typer only finds out when it builds the whole app, which would fail every command."""

from __future__ import annotations

from typing import Annotated

import typer

from genbench import hookimpl


@hookimpl
def genbench_register_commands(app) -> None:  # type: ignore[no-untyped-def]
    @app.command("twice")
    def twice(value: Annotated[str, typer.Option("--value")] = typer.Option("a")) -> None:
        """Declares its option twice."""
        print(value)
