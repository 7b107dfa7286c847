"""Replaces the root callback, which would take `genbench --version` and `--debug` away."""

from __future__ import annotations

from genbench import hookimpl


@hookimpl
def genbench_register_commands(app) -> None:  # type: ignore[no-untyped-def]
    @app.callback()
    def mine() -> None:
        """Not genbench's root."""
