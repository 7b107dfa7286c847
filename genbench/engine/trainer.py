"""The training loop. It knows the model only through genbench.api.model.

Budgets are images seen. Losses are logged every ``log_every`` steps as the mean over the
interval, which is also when non-finite losses are caught (the run stops as ``diverged``).
The first Ctrl-C stops after the current step with a checkpoint (``interrupted``); a second
one raises at once.
"""

from __future__ import annotations

import dataclasses
import math
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from genbench.api.dataset import ImageData
from genbench.api.model import Batch, GenerativeModel, StepContext
from genbench.config import TrainConfig
from genbench.engine.batches import Batches
from genbench.engine.checkpoint import save_checkpoint
from genbench.engine.device import rng_state, set_rng_state
from genbench.engine.distribution import ONE_PROCESS, Distribution
from genbench.errors import GenbenchError


class Reporter(Protocol):
    """Receives progress; the CLI shows it as a rich progress bar."""

    def start(self, total_images: int, done_images: int) -> None: ...
    def update(self, images_seen: int, losses: dict[str, float], images_per_s: float) -> None: ...
    def stop(self) -> None: ...


class SilentReporter:
    def start(self, total_images: int, done_images: int) -> None:
        pass

    def update(self, images_seen: int, losses: dict[str, float], images_per_s: float) -> None:
        pass

    def stop(self) -> None:
        pass


@dataclass
class TrainResult:
    status: str  # finished | interrupted | diverged
    step: int
    images_seen: int
    step_seconds: float  # time inside model.training_step (forward + backward + update)
    loop_seconds: float  # the whole loop: adds batching, logging, checkpoints, store writes
    message: str = ""
    losses: list[tuple[int, int, dict[str, float]]] = field(default_factory=list)
    session_images: int = 0  # images trained by this process (a resumed run's earlier ones not counted)


class _StopFlag:
    """SIGINT handler: the first Ctrl-C asks the loop to stop cleanly, the second interrupts."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> _StopFlag:
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: no handler, Ctrl-C raises as usual
            self._previous = None
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def total_steps(budget_images: int, batch_size: int) -> int:
    return max(1, math.ceil(budget_images / batch_size))


def train(
    model: GenerativeModel,
    data: ImageData,
    cfg: TrainConfig,
    *,
    budget_images: int,
    seed: int,
    device: torch.device,
    checkpoint_path: Path | None,
    resume: dict[str, Any] | None = None,
    on_log: Callable[[int, int, dict[str, float]], None] | None = None,
    on_checkpoint: Callable[[int, int], None] | None = None,
    reporter: Reporter | None = None,
    world_size: int = 1,
    stop_after_steps: int = 0,
    why_stop: Callable[[], str | None] | None = None,
    dist: Distribution = ONE_PROCESS,
) -> TrainResult:
    """Train ``model`` until ``budget_images`` have been seen, from scratch or from ``resume``.

    ``stop_after_steps`` > 0 stops as a Ctrl-C would once that step is reached (tests, demos).
    ``why_stop`` is asked before every step; a reason raises GenbenchError with it, writing no
    checkpoint (the run's lease was lost: another process owns the run now).

    ``dist`` shares the work between processes (:mod:`genbench.engine.distribution`). Under
    torchrun every rank calls this: rank 0's ``resume`` reaches the others, each trains on its
    shard of the global batch, and only rank 0 writes ``checkpoint_path`` (None on the others).
    """
    loop = _Loop(model, data, cfg, budget_images, seed, device, checkpoint_path, world_size, dist)
    loop.on_log, loop.on_checkpoint = on_log, on_checkpoint
    loop.restore(resume)
    return loop.run(reporter or SilentReporter(), stop_after_steps, why_stop)


@dataclass
class _LossWindow:
    """Loss sums since the last log point. It travels with the checkpoint, so an
    interrupted-then-resumed run logs exactly the points an uninterrupted one does."""

    sums: dict[str, torch.Tensor] = field(default_factory=dict)
    count: int = 0

    def add(self, losses: dict[str, torch.Tensor]) -> None:
        for k, v in losses.items():
            v = torch.as_tensor(v).detach().float()
            self.sums[k] = self.sums[k] + v if k in self.sums else v
        self.count += 1

    def state_dict(self) -> dict[str, Any]:
        return {"sums": {k: v.cpu() for k, v in self.sums.items()}, "count": self.count}

    @classmethod
    def from_state(cls, state: dict[str, Any], device: torch.device) -> _LossWindow:
        return cls({k: v.to(device) for k, v in state.get("sums", {}).items()}, int(state.get("count", 0)))


class _Loop:
    """The state of one training session and the steps that change it."""

    def __init__(
        self,
        model: GenerativeModel,
        data: ImageData,
        cfg: TrainConfig,
        budget_images: int,
        seed: int,
        device: torch.device,
        checkpoint_path: Path | None,
        world_size: int,
        dist: Distribution,
    ) -> None:
        model.to(device)
        self.model, self.cfg, self.seed, self.device = model, cfg, seed, device
        self.checkpoint_path = checkpoint_path
        self.on_log: Callable[[int, int, dict[str, float]], None] | None = None
        self.on_checkpoint: Callable[[int, int], None] | None = None
        self.optimizers = model.configure_optimizers()
        self.ctx = StepContext(
            self.optimizers, device=device, amp=cfg.amp, grad_clip=cfg.grad_clip or None, world_size=world_size
        )
        self.batches = Batches(data.train_x, data.train_y, cfg.batch_size, seed, device)
        # Two-domain data: domain B is drawn in its own seeded order, so nothing is paired with A.
        self.batches_b = (
            Batches(data.train_b_x, data.train_b_y, self.batches.batch_size, seed + 1_000_000, device)  # type: ignore[arg-type]
            if data.has_domain_b
            else None
        )
        self.steps = total_steps(budget_images, self.batches.batch_size)
        # No optimizer and no state at all (a baseline such as an identity map): nothing can be learnt,
        # so the run takes zero steps. A model with buffers but no optimizer (PCA's moment sums) learns
        # in training_step without gradients and runs its steps like any other.
        self.nothing_to_learn = not self.optimizers and not model.state_dict()
        if self.nothing_to_learn:
            self.steps = 0
        self.ctx.total_steps = self.steps
        every = cfg.checkpoint_every or max(self.batches.batch_size, budget_images // 4)
        self.ckpt_steps = max(1, every // self.batches.batch_size)
        self.step = 0
        self.window = _LossWindow()
        self.losses: list[tuple[int, int, dict[str, float]]] = []
        self.timer = _StepTimer(device)
        self.dist = dist

    @property
    def images_seen(self) -> int:
        return self.step * self.batches.batch_size

    def restore(self, resume: dict[str, Any] | None) -> None:
        """Load a checkpoint's state (under torchrun: rank 0's, sent to every rank), then wrap the model."""
        resume = self.dist.share_checkpoint(resume, self.batches.batch_size)
        if resume is not None:
            self.model.load_state_dict(resume["model"])
            for name, opt in self.optimizers.items():
                opt.load_state_dict(resume["optimizers"][name])
            self.ctx.load_state_dict(resume.get("scalers", {}))
            set_rng_state(resume["rng"])
            self.step = int(resume["step"])
            self.window = _LossWindow.from_state(resume.get("loss_window", {}), self.device)
        self.parallel = self.dist.replicas(self.model, self.ctx, self.device)
        self.parallel.reseed(self.seed, self.step)

    def checkpoint(self) -> None:
        self.parallel.check_replicas(self.model)
        # The loss sums so far are this process's: the checkpoint holds their mean over the
        # processes, which resumes under any process count (averaging later sums stays linear).
        window = _LossWindow(self.parallel.mean(self.window.sums), self.window.count)
        if self.checkpoint_path is None:  # a rank other than 0 of a torchrun launch
            return
        state = {
            "model": self.model.state_dict(),  # the unwrapped model: loads under any process count
            "optimizers": {n: o.state_dict() for n, o in self.optimizers.items()},
            "scalers": self.ctx.state_dict(),
            "rng": rng_state(),
            "step": self.step,
            "images_seen": self.images_seen,
            "loss_window": window.state_dict(),
        }
        save_checkpoint(self.checkpoint_path, state)
        if self.on_checkpoint:
            self.on_checkpoint(self.step, self.images_seen)

    def batch(self) -> Batch:
        batch = self.batches.batch(self.step)
        if self.batches_b is not None:
            other = self.batches_b.batch(self.step)
            batch = dataclasses.replace(batch, x_b=other.x, y_b=other.y)
        return self.parallel.shard(batch)

    def train_step(self) -> None:
        batch = self.batch()
        self.ctx.step, self.ctx.images_seen = self.step, self.images_seen
        self.timer.start()
        losses = self.model.training_step(batch, self.ctx)
        self.timer.stop()
        self.window.add(losses)
        self.step += 1

    def flush(self) -> str | None:
        """Record the interval's mean losses; the divergence message when one is not finite."""
        if not self.window.count:
            return None
        sums = self.parallel.mean(self.window.sums)
        means = {k: float(v) / self.window.count for k, v in sums.items()}  # waits for the GPU anyway
        self.timer.seconds()  # so the step events recorded since the last log are read and released
        self.window = _LossWindow()
        self.losses.append((self.step, self.images_seen, means))
        if self.on_log:
            self.on_log(self.step, self.images_seen, means)
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        self.reporter.update(self.images_seen, means, (self.step - self.first_step) * self.batches.batch_size / elapsed)
        if all(math.isfinite(v) for v in means.values()):
            return None
        bad = ", ".join(f"{k}={v:.4g}" for k, v in means.items())
        return f"loss became non-finite at step {self.step} ({bad}); lower the learning rate"

    def run(self, reporter: Reporter, stop_after_steps: int, why_stop: Callable[[], str | None] | None) -> TrainResult:
        self.model.train()
        self.reporter = reporter
        reporter.start(self.steps * self.batches.batch_size, self.images_seen)
        self.first_step, self.started = self.step, time.perf_counter()
        status, message = "finished", ""
        with _StopFlag() as stop:
            try:
                while self.step < self.steps:
                    if why_stop is not None and (why := why_stop()):
                        raise GenbenchError(why)
                    self.train_step()
                    at_checkpoint = self.step % self.ckpt_steps == 0 or self.step == self.steps
                    if self.step % self.cfg.log_every == 0 or at_checkpoint:
                        if diverged := self.flush():  # the same on every rank: the losses are all-reduced
                            status, message = "diverged", diverged
                            break
                    if stop_after_steps and stop_after_steps <= self.step < self.steps:
                        stop.requested = True
                    if self.step < self.steps:
                        stop.requested = self.parallel.any(stop.requested)
                    if stop.requested:
                        self.checkpoint()
                        status, message = "interrupted", f"stopped at step {self.step} of {self.steps}"
                        break
                    if at_checkpoint:
                        self.checkpoint()
            finally:
                reporter.stop()
        if self.nothing_to_learn:
            self.checkpoint()  # the (stateless) model is stored like any other, for `genbench eval`
            message = "nothing to train: the model has no optimizer and no state, so it saw no training images"
        step_seconds = self.timer.seconds()  # waits for the GPU's last step
        loop_seconds = time.perf_counter() - self.started
        session_images = (self.step - self.first_step) * self.batches.batch_size
        return TrainResult(
            status, self.step, self.images_seen, step_seconds, loop_seconds, message, self.losses, session_images
        )


class _StepTimer:
    """Time spent inside ``training_step``. On CUDA it records events around each step and reads
    them only when asked, so the CPU never waits for the GPU between steps (a synchronize per
    step would serialise the launches of the next step behind the GPU's work)."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self._seconds = 0.0
        self._t0 = 0.0
        self._events: list[tuple[torch.cuda.Event, torch.cuda.Event]] = []
        self._start: torch.cuda.Event | None = None

    def start(self) -> None:
        if self.cuda:
            self._start = torch.cuda.Event(enable_timing=True)
            self._start.record()
        else:
            self._t0 = time.perf_counter()

    def stop(self) -> None:
        if self.cuda and self._start is not None:
            end = torch.cuda.Event(enable_timing=True)
            end.record()
            self._events.append((self._start, end))
        else:
            self._seconds += time.perf_counter() - self._t0

    def seconds(self) -> float:
        """The total so far; on CUDA this waits for the last recorded step to end."""
        if self._events:
            self._events[-1][1].synchronize()
            self._seconds += sum(a.elapsed_time(b) for a, b in self._events) / 1000.0  # ms -> s
            self._events.clear()
        return self._seconds
