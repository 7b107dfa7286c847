"""Follows runs through genbench's lifecycle hooks and writes TensorBoard event files.

Each run writes to ``<run_dir>/tensorboard`` (or ``$GENBENCH_TENSORBOARD/<run id>`` when that
variable names a folder): losses against images seen, each metric once scored, the resolved
config as text, and the final status. ``tensorboard --logdir results/runs`` shows every run.
torch.utils.tensorboard is imported only when a run starts, so importing the plugin stays cheap.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from genbench import hookimpl

_writers: dict[str, Any] = {}  # run id -> SummaryWriter, open while the run trains


def log_dir(run: Any) -> Path:
    root = os.environ.get("GENBENCH_TENSORBOARD")
    return Path(root) / run.id if root else Path(run.run_dir) / "tensorboard"


def _writer(run: Any) -> Any:
    if run.id not in _writers:
        from torch.utils.tensorboard import SummaryWriter

        _writers[run.id] = SummaryWriter(log_dir=str(log_dir(run)))
    return _writers[run.id]


@hookimpl
def genbench_run_started(run: Any, resumed: bool) -> None:
    w = _writer(run)
    what = f"{run.family}/{run.model} on {run.benchmark} ({run.budget}, seed {run.seed})"
    w.add_text("run", f"{'resumed' if resumed else 'started'}: {what}, run {run.id}")
    w.add_text("config", "```\n" + json.dumps(run.config, indent=2, default=str) + "\n```")


@hookimpl
def genbench_losses_logged(run: Any, step: int, images_seen: int, losses: dict[str, float]) -> None:
    w = _writer(run)
    for name, value in losses.items():
        w.add_scalar(f"loss/{name}", value, global_step=images_seen)


@hookimpl
def genbench_evaluated(run: Any, scores: list[Any]) -> None:
    w = _writer(run)
    for sc in scores:
        w.add_scalar(f"metric/{sc.name}", sc.value, global_step=run.images_seen)
        settings = ", ".join(f"{k}={v}" for k, v in sorted(sc.settings.items()))
        text = f"{sc.value:.6g} {sc.unit} (fingerprint {sc.fingerprint_hash}; {settings or '-'})"
        w.add_text(f"metric/{sc.name}", text)
    w.flush()


@hookimpl
def genbench_run_finished(run: Any) -> None:
    w = _writer(run)
    w.add_text("status", f"{run.status}" + (f": {run.message}" if run.message else ""))
    w.close()
    del _writers[run.id]
