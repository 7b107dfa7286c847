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
from genbench.api.model import GenerativeModel, StepContext
from genbench.config import TrainConfig
from genbench.engine.batches import Batches
from genbench.engine.checkpoint import save_checkpoint
from genbench.engine.device import rng_state, set_rng_state
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
    checkpoint_path: Path,
    resume: dict[str, Any] | None = None,
    on_log: Callable[[int, int, dict[str, float]], None] | None = None,
    on_checkpoint: Callable[[int, int], None] | None = None,
    reporter: Reporter | None = None,
    world_size: int = 1,
    stop_after_steps: int = 0,
    why_stop: Callable[[], str | None] | None = None,
) -> TrainResult:
    """Train ``model`` until ``budget_images`` have been seen, from scratch or from ``resume``.

    ``stop_after_steps`` > 0 stops as a Ctrl-C would once that step is reached (tests, demos).
    ``why_stop`` is asked before every step; a reason raises GenbenchError with it, writing no
    checkpoint (the run's lease was lost: another process owns the run now).
    """
    reporter = reporter or SilentReporter()
    model.to(device)
    optimizers = model.configure_optimizers()
    ctx = StepContext(optimizers, device=device, amp=cfg.amp, grad_clip=cfg.grad_clip or None, world_size=world_size)
    batches = Batches(data.train_x, data.train_y, cfg.batch_size, seed, device)
    # Two-domain data: domain B is drawn in its own seeded order, so nothing is paired with A.
    batches_b = (
        Batches(data.train_b_x, data.train_b_y, batches.batch_size, seed + 1_000_000, device)  # type: ignore[arg-type]
        if data.has_domain_b
        else None
    )
    steps = total_steps(budget_images, batches.batch_size)
    # No optimizer and no state at all (a baseline such as an identity map): nothing can be learnt,
    # so the run takes zero steps. A model with buffers but no optimizer (PCA's moment sums) learns
    # in training_step without gradients and runs its steps like any other.
    nothing_to_learn = not optimizers and not model.state_dict()
    if nothing_to_learn:
        steps = 0
    ctx.total_steps = steps
    every = cfg.checkpoint_every or max(batches.batch_size, budget_images // 4)
    ckpt_steps = max(1, every // batches.batch_size)

    step = 0
    if resume is not None:
        model.load_state_dict(resume["model"])
        for name, opt in optimizers.items():
            opt.load_state_dict(resume["optimizers"][name])
        ctx.load_state_dict(resume.get("scalers", {}))
        set_rng_state(resume["rng"])
        step = int(resume["step"])
    # The loss window in progress travels with the checkpoint, so an interrupted-then-resumed
    # run logs exactly the points an uninterrupted one does.
    window = resume.get("loss_window", {}) if resume is not None else {}
    sums: dict[str, torch.Tensor] = {k: v.to(device) for k, v in window.get("sums", {}).items()}
    count = int(window.get("count", 0))

    def checkpoint() -> None:
        state = {
            "model": model.state_dict(),
            "optimizers": {n: o.state_dict() for n, o in optimizers.items()},
            "scalers": ctx.state_dict(),
            "rng": rng_state(),
            "step": step,
            "images_seen": step * batches.batch_size,
            "loss_window": {"sums": {k: v.cpu() for k, v in sums.items()}, "count": count},
        }
        save_checkpoint(checkpoint_path, state)
        if on_checkpoint:
            on_checkpoint(step, step * batches.batch_size)

    step_seconds = 0.0
    result_losses: list[tuple[int, int, dict[str, float]]] = []
    status, message = "finished", ""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def flush() -> bool:
        """Record the interval's mean losses; False when one is not finite."""
        nonlocal sums, count
        if not count:
            return True
        means = {k: float(v) / count for k, v in sums.items()}
        sums, count = {}, 0
        images = step * batches.batch_size
        result_losses.append((step, images, means))
        if on_log:
            on_log(step, images, means)
        elapsed = time.perf_counter() - loop_start
        reporter.update(images, means, (step - first_step) * batches.batch_size / max(elapsed, 1e-9))
        return all(math.isfinite(v) for v in means.values())

    model.train()
    reporter.start(steps * batches.batch_size, step * batches.batch_size)
    first_step = step
    loop_start = time.perf_counter()
    with _StopFlag() as stop:
        try:
            while step < steps:
                if why_stop is not None and (why := why_stop()):
                    raise GenbenchError(why)
                batch = batches.batch(step)
                if batches_b is not None:
                    other = batches_b.batch(step)
                    batch = dataclasses.replace(batch, x_b=other.x, y_b=other.y)
                ctx.step, ctx.images_seen = step, step * batches.batch_size
                sync()
                t0 = time.perf_counter()
                losses = model.training_step(batch, ctx)
                sync()
                step_seconds += time.perf_counter() - t0
                for k, v in losses.items():
                    v = torch.as_tensor(v).detach().float()
                    sums[k] = sums[k] + v if k in sums else v
                count += 1
                step += 1
                at_checkpoint = step % ckpt_steps == 0 or step == steps
                if step % cfg.log_every == 0 or at_checkpoint:
                    if not flush():
                        bad = ", ".join(f"{k}={v:.4g}" for k, v in result_losses[-1][2].items())
                        status = "diverged"
                        message = f"loss became non-finite at step {step} ({bad}); lower the learning rate"
                        break
                if stop_after_steps and step >= stop_after_steps and step < steps:
                    stop.requested = True
                if stop.requested:
                    checkpoint()
                    status, message = "interrupted", f"stopped at step {step} of {steps}"
                    break
                if at_checkpoint:
                    checkpoint()
        finally:
            reporter.stop()
    if nothing_to_learn:
        checkpoint()  # the (stateless) model is stored like any other, for `genbench eval`
        message = "nothing to train: the model has no optimizer and no state, so it saw no training images"
    sync()
    return TrainResult(
        status, step, step * batches.batch_size, step_seconds, time.perf_counter() - loop_start, message, result_losses
    )
