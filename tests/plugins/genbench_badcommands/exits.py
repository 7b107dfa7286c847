"""Its command registration calls sys.exit (an ``except Exception`` does not catch that)."""

from __future__ import annotations

import sys

from genbench import hookimpl


@hookimpl
def genbench_register_commands(app) -> None:  # type: ignore[no-untyped-def]
    sys.exit("no commands today")
