"""Training batches from in-memory uint8 tensors.

The batch of step ``k`` is a pure function of (seed, k): epoch ``k // steps_per_epoch``
shuffles with a generator seeded by (seed, epoch). Resuming at step ``k`` therefore needs
no loader state, and an interrupted-then-resumed run sees exactly the batches an
uninterrupted one does.
"""

from __future__ import annotations

import torch

from genbench.api.model import Batch


class Batches:
    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int, device: torch.device) -> None:
        if batch_size > len(x):
            batch_size = len(x)
        # Holding the whole uint8 set on the device makes a batch one index op (no loader overhead).
        self.x = x.to(device)
        self.y = y.to(device)
        self.batch_size = batch_size
        self.seed = seed
        self.steps_per_epoch = len(x) // batch_size  # drop the ragged tail, as most trainers do
        self._epoch = -1
        self._perm: torch.Tensor | None = None

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch != self._epoch:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm = torch.randperm(len(self.x), generator=gen).to(self.x.device)
            self._epoch = epoch
        assert self._perm is not None
        return self._perm

    def batch(self, step: int) -> Batch:
        epoch, i = divmod(step, self.steps_per_epoch)
        idx = self._permutation(epoch)[i * self.batch_size : (i + 1) * self.batch_size]
        return Batch(self.x[idx].float().div_(255.0), self.y[idx])
