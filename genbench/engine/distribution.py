"""How the processes of one run share its work: the one seam between a run and its distribution.

The runner receives a :class:`Distribution` and hands it to the trainer and the evaluation; they
call it at the few points where N processes must agree (joining, the checkpoint a resumed run
starts from, each training step's batch, losses and stop, the evaluation's samples) and ask it
whether this process writes. This class is one process: every method leaves things as they
are, so a run's phases read top to bottom without asking which rank they are on.
:class:`genbench.engine.distributed.Torchrun` is N processes under ``torchrun`` (DDP); it also
launches them and runs the other ranks' side of a run, wrapped around the runner.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from torch import nn

    from genbench.api.metric import EvalContext, Metric
    from genbench.api.model import Batch, GenerativeModel, StepContext
    from genbench.store.schema import Run

PEER_LOST = "another process of this torchrun launch stopped (torchrun prints its error)"


class Replicas:
    """Training's side of the distribution: one process trains on the whole batch, alone.

    :class:`genbench.engine.distributed.DataParallel` is the torchrun side: it shards batches,
    averages gradients and losses over the ranks and agrees on stopping.
    """

    def shard(self, batch: Batch) -> Batch:
        """This process's part of the global batch."""
        return batch

    def mean(self, sums: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Loss sums averaged over the processes."""
        return sums

    def any(self, flag: bool) -> bool:
        """True when ``flag`` is on in any process (a Ctrl-C seen by one stops all)."""
        return flag

    def check_replicas(self, model: nn.Module) -> None:
        """Raise when the processes' parameters differ."""

    def reseed(self, seed: int, step: int) -> None:
        """Give each process other than the first its own noise stream."""


class Distribution:
    """One process: it writes the store, trains on whole batches and draws every sample."""

    @property
    def writes(self) -> bool:
        """Whether this process writes the store, checkpoints and artifacts, and prints the outcome."""
        return True

    def setup(self, device: torch.device, *, batch_size: int) -> torch.device:
        """Check the run fits the processes, join them; this process's device."""
        return device

    def single_process(self, what: str) -> None:
        """Refuse a command that must not run once per process (it would write the store N times)."""

    def share_run(self, run: Run) -> None:
        """Hand the other processes the run that this one resumes."""

    def share_checkpoint(self, resume: dict[str, Any] | None, batch_size: int) -> dict[str, Any] | None:
        """The checkpoint training starts from, the same in every process."""
        return resume

    def replicas(self, model: GenerativeModel, ctx: StepContext, device: torch.device) -> Replicas:
        """How the training loop shares batches, gradients and losses of ``model``."""
        return Replicas()

    def share_sampling(self, ctx: EvalContext, metrics: Sequence[Metric]) -> None:
        """Before the metrics run: let every process draw a share of their samples."""

    def peer_lost(self, exc: BaseException | None) -> bool:
        """Whether ``exc`` means another process of the launch went away."""
        return False

    def leave(self) -> None:
        """After a command succeeded: wait for the other processes, then leave them."""


ONE_PROCESS = Distribution()
