"""genbench's own benchmark declarations, registered through the same hook as plugins'."""

from __future__ import annotations

from pathlib import Path

from genbench import hookimpl


@hookimpl
def genbench_register_benchmarks() -> list[Path]:
    return sorted(Path(__file__).parent.glob("*.yaml"))
