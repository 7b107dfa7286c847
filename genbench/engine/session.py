"""One process's session of a run: what it trains and scores, and how far its phases got.

The runner takes a session through four phases, each announced through a lifecycle hook
(genbench/hookspecs.py): prepare (``genbench_run_started``), train (``genbench_losses_logged``),
evaluate (``genbench_evaluated``) and finish (``genbench_run_finished``). The hooks receive the
session as ``session``: a plugin reads the model, data and scores from it and keeps files with
the run through :meth:`RunSession.add_artifact` (genbench/report/builtin.py draws the sample grid
and the loss curve that way).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from genbench.api.dataset import ImageData
from genbench.api.metric import Metric
from genbench.api.model import GenerativeModel
from genbench.benchmarks import Benchmark
from genbench.config import EvalConfig, TrainConfig
from genbench.engine.evaluate import Score
from genbench.engine.trainer import Reporter, TrainResult
from genbench.store.runs import LossHistory, RunWriter
from genbench.store.schema import Run


@dataclass(kw_only=True)
class RunSession:
    """A run and everything one process needs to train and score it, plus what it has done so far.

    ``writer`` is the only way the session writes to the store: the runner swaps it for one that
    writes nothing where a process must not write (a non-zero rank under torchrun).
    """

    run: Run
    model: GenerativeModel
    data: ImageData
    bench: Benchmark
    metrics: list[Metric]
    train_cfg: TrainConfig
    eval_cfg: EvalConfig
    device: torch.device
    writer: RunWriter
    resume: dict[str, Any] | None = None  # the checkpoint a resumed session starts from
    reporter: Reporter | None = None
    stop_after_steps: int = 0  # >0: stop as a Ctrl-C would at that step
    # Filled in by the phases.
    stage: str = "training"  # what the process is doing, for messages about a fault or a Ctrl-C
    # running -> evaluating (trained to the budget) -> finished; else interrupted, diverged, failed.
    status: str = "running"
    result: TrainResult | None = None
    history: LossHistory = field(default_factory=dict)  # every stored loss, once training stopped
    scores: list[Score] = field(default_factory=list)
    artifacts: list[tuple[str, Path]] = field(default_factory=list)  # (kind, path) to keep with the run
    _lap_start: float = field(default_factory=time.perf_counter, repr=False)

    @property
    def resumed(self) -> bool:
        return self.resume is not None

    @property
    def run_dir(self) -> Path:
        return Path(self.run.run_dir)

    def add_artifact(self, kind: str, path: Path) -> None:
        """Keep ``path`` with the run as an artifact of ``kind`` (shown by `genbench show` and the report).
        Added while evaluating, it is stored with the metrics; added later, right after the hook."""
        self.artifacts.append((kind, Path(path)))

    def lap(self) -> float:
        """Seconds since the session started or the last lap (each stored stretch of wall time)."""
        now = time.perf_counter()
        seconds, self._lap_start = now - self._lap_start, now
        return seconds
