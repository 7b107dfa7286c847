"""Registers a command under a name the core's views already use (`genbench runs`)."""

from __future__ import annotations

from genbench import hookimpl


@hookimpl
def genbench_register_commands(app) -> None:  # type: ignore[no-untyped-def]
    @app.command("runs")
    def runs() -> None:
        """Would replace the core's run listing."""
        print("not the real runs")
