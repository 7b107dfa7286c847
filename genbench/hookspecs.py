"""Every hook genbench calls. Plugins implement them with ``@genbench.hookimpl``.

Hooks are always called with keyword arguments. The registration hooks are called once,
when the plugin manager starts; their results are collected from every plugin, including
genbench's own built-in datasets and metrics, which register through these same hooks.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import typer

    from genbench.specs import DatasetSpec, MetricSpec, ModelSpec

hookspec = pluggy.HookspecMarker("genbench")


@hookspec
def genbench_register_models() -> list[ModelSpec]:
    """Return the models this plugin provides.

    Called once at start-up. Each :class:`~genbench.specs.ModelSpec` names its class as a
    ``"module:Class"`` string, so the plugin's top-level module need not import torch.
    Two plugins registering the same model name clash: that name is an error naming both, the
    rest keep working.
    """


@hookspec
def genbench_register_datasets() -> list[DatasetSpec]:
    """Return the datasets this plugin provides.

    Called once at start-up. The target is a function ``load(root: Path | None) -> ImageData``
    that raises :class:`~genbench.errors.GenbenchError` when its files are missing.
    """


@hookspec
def genbench_register_metrics() -> list[MetricSpec]:
    """Return the metrics this plugin provides.

    Called once at start-up. Each metric declares its direction, the model capability it
    needs and the fields of its fingerprint.
    """


@hookspec
def genbench_register_benchmarks() -> list[Path]:
    """Return paths of benchmark declaration files (YAML) this plugin provides.

    Called once at start-up. Each file declares one benchmark: its name, version, dataset,
    budgets in images seen, and evaluation protocol.
    """


@hookspec
def genbench_register_commands(app: typer.Typer) -> None:
    """Add sub-commands to the ``genbench`` command-line app.

    Called once when the CLI is built, with the root :class:`typer.Typer` app; the plugin
    adds commands with ``@app.command()``. Nothing is returned.
    """
