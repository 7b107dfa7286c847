"""Registers genbench's built-in metrics through the public hook."""

from __future__ import annotations

import pluggy

from genbench.specs import MetricSpec

hookimpl = pluggy.HookimplMarker("genbench")


@hookimpl
def genbench_register_metrics() -> list[MetricSpec]:
    return []
