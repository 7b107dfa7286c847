"""What the lifecycle hooks hand a plugin: the stored run and the session of the process running it.

These are the hooks' contract (genbench/hookspecs.py), written as protocols so the contract sits
below the code that fulfils it: the runner passes a :class:`genbench.store.schema.Run` row and
a :class:`genbench.engine.session.RunSession`, which have these attributes and more. A plugin
that keeps to these keeps working when the rest changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # importing the contract must not import torch
    import torch

    from genbench.api.dataset import ImageData
    from genbench.api.metric import Score
    from genbench.api.model import GenerativeModel
    from genbench.config import EvalConfig, TrainConfig


class RunRecord(Protocol):
    """A run as it is stored: what it is, how far it got and how it ended."""

    id: str
    status: str  # running, evaluating, finished, interrupted, diverged or failed
    message: str | None  # why it stopped, when it did not finish
    family: str
    model: str
    dataset: str
    benchmark: str
    budget: str
    budget_images: int
    seed: int
    config: dict[str, Any]  # the resolved model, train and eval configs
    run_dir: str  # the run's folder: a tracker may write its files there
    images_seen: int
    steps: int


class Session(Protocol):
    """One process's session of a run: what it trains and scores, and what it has done so far."""

    run: RunRecord
    model: GenerativeModel
    data: ImageData
    device: torch.device
    train_cfg: TrainConfig
    eval_cfg: EvalConfig
    status: str  # running -> evaluating (trained to the budget) -> finished; else how it stopped
    history: dict[str, list[tuple[int, int, float]]]  # loss -> [(step, images seen, mean)], once training stopped
    scores: list[Score]
    artifacts: list[tuple[str, Path]]  # (kind, path) kept with the run

    @property
    def resumed(self) -> bool: ...

    @property
    def run_dir(self) -> Path: ...

    def add_artifact(self, kind: str, path: Path) -> None:
        """Keep ``path`` with the run as an artifact of ``kind``."""
        ...
