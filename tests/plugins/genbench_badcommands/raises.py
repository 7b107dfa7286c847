"""Registers a good command whose body fails: it imports a dependency that is not installed."""

from __future__ import annotations

from genbench import hookimpl


@hookimpl
def genbench_register_commands(app) -> None:  # type: ignore[no-untyped-def]
    @app.command("boom")
    def boom() -> None:
        """Needs a package that is not installed."""
        import genbench_missing_dependency  # noqa: F401
