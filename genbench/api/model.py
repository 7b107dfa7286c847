"""The model contract.

A model is an ``nn.Module`` that declares its capabilities, owns its optimizers and performs
its own update steps through a :class:`StepContext`, which applies the device, mixed
precision, gradient clipping and (under ``torchrun``) gradient averaging. The trainer knows
nothing about the model beyond this file.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from genbench.api.dataset import DataInfo
from genbench.api.restoration import Degradation, Measurements


def eval_setting(default: Any, help: str = "", **limits: float) -> Any:
    """A config field that may change at evaluation time (a sampler, its step count...).

    Such fields are not part of the architecture: ``genbench eval RUN --set steps=50`` may
    change them on a stored checkpoint, and their values are recorded with every metric.
    ``limits`` declare a numeric range as genbench.config.setting does (ge=, gt=, le=, lt=).
    """
    from genbench.config import bounds

    return dataclasses.field(default=default, metadata={"eval": True, "help": help, **bounds(**limits)})


def memory_setting(default: Any, help: str = "", **limits: float) -> Any:
    """An evaluation-time setting that only fits the work into memory (a chunk size): it never
    changes a measured value, so the leaderboard neither shows it nor splits rows on it."""
    from genbench.config import bounds

    return dataclasses.field(default=default, metadata={"eval": True, "memory": True, "help": help, **bounds(**limits)})


def eval_fields(config: Any) -> dict[str, Any]:
    """The evaluation-time settings of a config, by name."""
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.metadata.get("eval")}


@dataclass
class Batch:
    x: torch.Tensor  # (B, C, H, W) float32 in [0, 1], quantised to k / 255
    y: torch.Tensor  # (B,) int64 labels
    # Two-domain datasets only: a batch of domain B drawn in its own seeded order, unpaired with x.
    x_b: torch.Tensor | None = None  # (B, C, H, W) float32 in [0, 1]
    y_b: torch.Tensor | None = None  # (B,) int64


class StepContext:
    """Applies the engine's policies to one optimizer step. Given to ``training_step``."""

    def __init__(
        self,
        optimizers: dict[str, torch.optim.Optimizer],
        *,
        device: torch.device,
        amp: str = "none",  # "none" | "bf16" | "fp16"
        grad_clip: float | None = None,
        world_size: int = 1,
    ) -> None:
        self.optimizers = optimizers
        self.device = device
        self.amp = amp
        self.grad_clip = grad_clip
        self.world_size = world_size
        self.step = 0  # number of completed training steps
        self.images_seen = 0
        self.total_steps = 0  # steps the whole run takes (learning-rate schedules); 0 when unknown
        # Under torchrun: called with each loss before its backward, to arm DDP's gradient averaging
        # for that backward (genbench.engine.distributed); None in a single process.
        self.grad_sync: Callable[[torch.Tensor], None] | None = None
        # fp16 needs loss scaling; one scaler per optimizer keeps GAN steps independent.
        enabled = amp == "fp16" and device.type == "cuda"
        self.scalers = {name: torch.amp.GradScaler("cuda", enabled=enabled) for name in optimizers}

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        """Mixed precision for the forward pass when the run asks for it."""
        if self.amp == "none":
            yield
            return
        dtype = torch.bfloat16 if self.amp == "bf16" else torch.float16
        with torch.autocast(self.device.type, dtype=dtype):
            yield

    def optimize(self, loss: torch.Tensor, optimizer: str, *, retain_graph: bool = False) -> None:
        """zero_grad, backward, (all-reduce), clip, step for the named optimizer."""
        opt = self.optimizers[optimizer]
        scaler = self.scalers[optimizer]
        opt.zero_grad(set_to_none=True)
        scaled = scaler.scale(loss)
        if self.grad_sync is not None:
            self.grad_sync(scaled)
        scaled.backward(retain_graph=retain_graph)
        params = [p for group in opt.param_groups for p in group["params"] if p.grad is not None]
        if self.world_size > 1 and self.grad_sync is None:
            # Data parallel: average gradients across ranks so every replica takes the same step.
            for p in params:
                torch.distributed.all_reduce(p.grad)
                p.grad.div_(self.world_size)
        if self.grad_clip:
            scaler.unscale_(opt)
            nn.utils.clip_grad_norm_(params, self.grad_clip)
        scaler.step(opt)
        scaler.update()

    def state_dict(self) -> dict[str, Any]:
        return {name: s.state_dict() for name, s in self.scalers.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, s in self.scalers.items():
            if name in state and state[name]:
                s.load_state_dict(state[name])


class GenerativeModel(nn.Module):
    """Base class of every genbench model.

    Subclasses set ``Config`` (a dataclass beside the model) and ``capabilities``, build
    their networks in ``__init__(config, info)``, and implement the methods their
    capabilities promise. Images in and out are float NCHW in [0, 1].
    """

    Config: ClassVar[type]
    capabilities: ClassVar[frozenset[str]] = frozenset()
    # True: the model learns from labels only through the benchmark's labelled subset, which the
    # engine passes to ``set_labelled`` before training (semi-supervised classifiers). Its
    # ``accuracy`` is then ranked per label budget, and the budget is fixed at training.
    uses_labelled_subset: ClassVar[bool] = False
    # True: the weights come from elsewhere (a pretrained checkpoint or pipeline). The engine
    # trains nothing (no images seen, no checkpoint), stores the run as kind "pretrained" with
    # :meth:`source` in its config, and evaluates it under the benchmark's protocol.
    pretrained: ClassVar[bool] = False
    # True: the model learns to undo the benchmark's degradation operator, which the engine passes
    # to ``set_degradation`` before training (restoring models: genbench.api.restoration).
    uses_degradation: ClassVar[bool] = False
    # Evaluation settings (``eval_setting`` fields) a smoke-budget run uses in place of the config's
    # defaults, so that "does it work?" answers in a minute, e.g. ``{"iwae_k": 8}`` for a bound
    # that costs 64 decoder passes an image; ``--set`` still wins. They are stored in the run's
    # config and beside every value like any evaluation setting, so a leaderboard never ranks a
    # smoke value as the default protocol's.
    smoke_settings: ClassVar[Mapping[str, Any]] = {}

    def __init__(self, config: Any, info: DataInfo) -> None:
        super().__init__()
        self.config = config
        self.info = info

    @classmethod
    def default_config(cls, info: DataInfo) -> Any:
        """The config this model uses on a dataset before ``--set`` overrides."""
        return cls.Config()

    @classmethod
    def default_train_settings(cls, info: DataInfo) -> dict[str, Any]:
        """The engine's ``train.*`` settings this model trains with on a dataset unless
        ``--set train.KEY=VALUE`` says otherwise, e.g. ``{"batch_size": 4}`` for a model whose
        paper updates on a few images at a time. Default: none, the engine's own defaults."""
        return {}

    # -- training --------------------------------------------------------------------

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Named optimizers; GANs return several."""
        raise NotImplementedError

    def training_step(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        """One update: compute losses and call ``ctx.optimize`` for each optimizer.

        Returns detached scalar losses by name, for logging and divergence checks.
        """
        raise NotImplementedError

    def training_warning(self, history: Mapping[str, Sequence[tuple[int, float]]]) -> str | None:
        """After training: a one-line warning about how it went, or None when nothing is wrong.

        ``history`` maps each logged loss to its ``(step, interval mean)`` points, the whole run
        including sessions before a resume. A warning (e.g. a GAN's mode collapse) leaves the
        run ``finished`` and becomes its message, shown by ``genbench run``, ``runs`` and ``show``.
        """
        return None

    def source(self) -> dict[str, Any]:
        """Pretrained models: where the weights came from, pinned (id, resolved revision, file hashes,
        scheduler...), stored as the run's ``config["source"]``. Default: nothing."""
        return {}

    @classmethod
    def network_evaluations(cls, config: Any) -> int | None:
        """Network forward passes to draw one sample under ``config`` (e.g. a sampler's steps),
        shown in the leaderboard's cost columns; None (the default) when the model cannot say."""
        return None

    def set_labelled(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Called before training when ``uses_labelled_subset``: the labelled training images
        (N, C, H, W) uint8 and their labels (N,) int64, chosen by the run's label budget
        (:mod:`genbench.api.representation`). The labels of ``training_step`` batches are not to be used.
        """
        raise NotImplementedError

    def set_degradation(self, op: Degradation) -> None:
        """Called before training when ``uses_degradation``: the operator whose measurements the
        model learns to restore. Training batches are clean; the model degrades them itself with
        ``op.measure(x)`` (fresh noise and masks from the global generator)."""
        raise NotImplementedError

    # -- capabilities ----------------------------------------------------------------

    def sample(
        self, n: int, *, labels: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """``sample``/``conditional``: (n, C, H, W) float in [0, 1]."""
        raise NotImplementedError

    def log_likelihood(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """``log_likelihood``: log P(x) in nats for each 8-bit image, shape (B,).

        ``x`` holds k / 255 values; continuous models dequantise with
        :mod:`genbench.metrics.nll` so that all models report the same quantity.
        """
        raise NotImplementedError

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """``reconstruct``: (B, C, H, W) float in [0, 1]."""
        raise NotImplementedError

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``encode``: (B, D) features."""
        raise NotImplementedError

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """``classify``: (B, num_classes) logits."""
        raise NotImplementedError

    def restore(self, m: Measurements, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``restore``: ``k`` posterior samples of the clean image behind each measurement,
        (N, k, C, H, W) float in [0, 1]; their mean is the model's point estimate and their
        spread its uncertainty (a deterministic model returns k equal copies).
        Random draws come from ``generator`` (see :func:`genbench.api.randn_tensor`).
        """
        raise NotImplementedError

    def translate(self, x: torch.Tensor, direction: str) -> torch.Tensor:
        """``translate``: images of one domain mapped to the other, (B, C, H, W) float in [0, 1].

        ``direction`` is ``"a2b"`` (domain A to domain B) or ``"b2a"``; the two domains are the
        halves of a two-domain dataset (:class:`genbench.api.dataset.ImageData` with domains).
        """
        raise NotImplementedError
