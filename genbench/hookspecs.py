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

    from genbench.api.lifecycle import RunRecord, Session
    from genbench.api.metric import Score
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


# -- lifecycle hooks: called by the runner while a run trains and is scored -----------------
# A run is four phases, each announced by one hook: prepare (run_started), train (losses_logged),
# evaluate (evaluated), finish (run_finished). Trackers (TensorBoard, MLflow...) implement them,
# and so does genbench's own default plugin, genbench/report/builtin.py, which draws the sample
# grid and the loss curve. They are called in the training process, with keyword arguments; an
# exception in one is reported as a note naming the plugin and never stops the run. Every one
# receives ``session`` (the contract: :class:`~genbench.api.lifecycle.Session`; the runner passes
# its :class:`~genbench.engine.session.RunSession`): the model, data, device, configs, ``history``
# (stored losses, once training stopped), ``scores``, and ``add_artifact(kind, path)`` to keep a
# file with the run. An implementation may leave out any
# argument it does not use (pluggy passes only those it names), so older trackers keep working.


@hookspec
def genbench_run_started(run: RunRecord, resumed: bool, session: Session) -> None:
    """A run's row is stored and training is about to start (``resumed``: from a checkpoint).

    ``run`` is the stored row (:class:`~genbench.api.lifecycle.RunRecord`; the runner passes the
    :class:`~genbench.store.schema.Run`): id, family, model, dataset, budget, seed, the resolved
    ``config`` and ``run_dir`` (a tracker may write its files there).
    """


@hookspec
def genbench_losses_logged(
    run: RunRecord, step: int, images_seen: int, losses: dict[str, float], session: Session
) -> None:
    """Every ``train.log_every`` steps: the interval means of the run's losses at ``step``."""


@hookspec
def genbench_evaluated(run: RunRecord, scores: list[Score], session: Session) -> None:
    """A run was scored (after training, or by ``genbench eval``): one
    :class:`~genbench.api.metric.Score` per metric, with its value, unit and fingerprint.

    Called before the scores are stored. After training ``session.status`` is ``"evaluating"``
    (at ``genbench eval``: ``"finished"``); artifacts added now are stored in the same transaction
    as the metrics and, after training, the status "finished". The default plugin draws the sample
    grid here (``tryfirst``: trackers find it in ``session.artifacts``).
    """


@hookspec
def genbench_run_finished(run: RunRecord, session: Session) -> None:
    """Training stopped and, when it finished, the run was scored. ``run.status`` says how it
    ended: finished, interrupted, diverged or failed; ``run.message`` says why.

    ``run`` is the stored row; artifacts added now are stored right after the hook returns (the
    default plugin draws the loss curve here, ``tryfirst``).
    """
