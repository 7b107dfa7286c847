"""The reconstruction protocol: a degradation operator, the measurements it makes, and what
models with the ``restore`` capability receive.

A benchmark declares one operator (``eval.degradation: {op: noise, sigma: 0.3, seed: 0}``):

- ``noise``: y = x + σ·ε, ε ~ N(0, I), on the [0, 1] scale (y is not clipped);
- ``inpaint``: each pixel is missing with probability ``rate`` (all channels together);
- ``box``: a central square of side ``size`` × the image side is missing;
- ``downsample``: y = average pooling of x by ``factor``.

The measurements of the test images are drawn once, from a generator seeded with the
operator's ``seed``, so every model restores the very same ones; the operator and its
parameters are in every fingerprint of a reconstruction metric. Models trained for the
operator (``uses_degradation``) draw fresh measurements of training images with
:meth:`Degradation.measure` and the global generator.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from genbench.api.random import rand_tensor, randn_tensor
from genbench.errors import GenbenchError


@dataclass(frozen=True)
class Degradation:
    """One operator with its parameters (those of other operators stay at their defaults)."""

    op: str  # noise | inpaint | box | downsample
    sigma: float = 0.0
    rate: float = 0.0
    size: float = 0.0
    factor: int = 1
    seed: int = 0  # the test measurements' generator seed

    @classmethod
    def from_mapping(cls, raw: dict[str, Any]) -> Degradation:
        """From a benchmark's validated ``eval.degradation`` mapping."""
        return cls(**raw)

    def params(self) -> dict[str, Any]:
        """The operator's own parameters: ``{"sigma": 0.3}`` for noise."""
        names = {"noise": ("sigma",), "inpaint": ("rate",), "box": ("size",), "downsample": ("factor",)}[self.op]
        return {n: getattr(self, n) for n in names}

    def describe(self) -> str:
        """``noise sigma=0.3`` for captions and listings."""
        return f"{self.op} " + " ".join(f"{k}={v:g}" for k, v in self.params().items())

    def fingerprint(self) -> dict[str, Any]:
        return {"operator": self.op, **self.params(), "measurement_seed": self.seed}

    def check_shape(self, shape: tuple[int, ...], where: str) -> None:
        """Refuse images the operator cannot degrade (a factor that does not divide the sides)."""
        if self.op == "downsample" and (shape[-1] % self.factor or shape[-2] % self.factor):
            raise GenbenchError(
                f"{where}: downsampling by {self.factor} needs image sides divisible by it, "
                f"got {shape[-2]}x{shape[-1]}; pick a factor that divides them"
            )

    def _mask(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor | None:
        n, _, h, w = x.shape
        if self.op == "inpaint":
            u = rand_tensor((n, 1, h, w), generator=generator, device=x.device)
            return (u >= self.rate).to(x.dtype)  # 1 = observed
        if self.op == "box":
            side_h, side_w = max(1, round(self.size * h)), max(1, round(self.size * w))
            top, left = (h - side_h) // 2, (w - side_w) // 2
            mask = torch.ones((n, 1, h, w), dtype=x.dtype, device=x.device)
            mask[:, :, top : top + side_h, left : left + side_w] = 0.0
            return mask
        return None

    def measure(self, x: torch.Tensor, generator: torch.Generator | None = None) -> Measurements:
        """Degrade clean images ``x`` (N, C, H, W) in [0, 1]; random draws come from ``generator``
        (drawn on the generator's device, so a CPU generator gives the same measurements everywhere)."""
        self.check_shape(tuple(x.shape), "degradation")
        mask = self._mask(x, generator)
        y = self.forward(x, mask)
        if self.op == "noise":
            eps = randn_tensor(tuple(x.shape), generator=generator, device=x.device, dtype=x.dtype)
            y = y + self.sigma * eps
        return Measurements(self, y, mask, (x.shape[1], x.shape[2], x.shape[3]))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """The noiseless operator A(x) for images (N, C, H, W) with their masks (N, 1, H, W)."""
        if self.op == "downsample":
            return F.avg_pool2d(x, self.factor)
        if mask is not None:
            return x * mask
        return x


@dataclass
class Measurements:
    """Degraded images and what a restorer needs to read them."""

    op: Degradation
    y: torch.Tensor  # (N, C, h, w): h = H / factor when downsampling, else H
    mask: torch.Tensor | None  # (N, 1, H, W), 1 = observed; inpaint and box only
    shape: tuple[int, int, int]  # (C, H, W) of the clean images

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, index: slice) -> Measurements:
        return dataclasses.replace(self, y=self.y[index], mask=None if self.mask is None else self.mask[index])

    def to(self, device: torch.device | str) -> Measurements:
        return dataclasses.replace(self, y=self.y.to(device), mask=None if self.mask is None else self.mask.to(device))

    def observed(self) -> torch.Tensor:
        """(N, 1, H, W): 1 where the pixel was measured (everywhere but inpainting's holes)."""
        if self.mask is not None:
            return self.mask
        c, h, w = self.shape
        return torch.ones((len(self.y), 1, h, w), dtype=self.y.dtype, device=self.y.device)

    def fill(self) -> torch.Tensor:
        """The classical estimate, (N, C, H, W) in [0, 1]: the noisy image clipped, nearest
        upsampling, or holes filled with the mean of the image's observed pixels (per channel)."""
        if self.op.op == "downsample":
            return F.interpolate(self.y, scale_factor=self.op.factor, mode="nearest").clamp(0.0, 1.0)
        if self.mask is not None:
            seen = self.mask.expand_as(self.y)
            mean = (self.y * seen).sum((2, 3), keepdim=True) / seen.sum((2, 3), keepdim=True).clamp_min(1.0)
            return (self.y * seen + mean * (1.0 - seen)).clamp(0.0, 1.0)
        return self.y.clamp(0.0, 1.0)

    def condition(self) -> torch.Tensor:
        """What a restoring network reads, (N, C + 1, H, W): :meth:`fill` and :meth:`observed`."""
        return torch.cat([self.fill(), self.observed()], dim=1)

    def degrade(self, x: torch.Tensor) -> torch.Tensor:
        """A(x) with these measurements' masks; ``x`` (N, C, H, W) or K samples (N, K, C, H, W)."""
        if x.dim() == 5:
            n, k = x.shape[:2]
            mask = None if self.mask is None else self.mask.repeat_interleave(k, 0)
            return self.op.forward(x.flatten(0, 1), mask).unflatten(0, (n, k))
        return self.op.forward(x, self.mask)

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """Root-mean-square of A(x) − y over the measured values, per image: (N,) or (N, K)."""
        ax = self.degrade(x)
        y = self.y if x.dim() == 4 else self.y.unsqueeze(1)
        sq = (ax - y) ** 2
        if self.mask is None:
            return sq.flatten(-3).mean(-1).sqrt()
        seen = self.mask.expand_as(self.y) if x.dim() == 4 else self.mask.expand_as(self.y).unsqueeze(1)
        return ((sq * seen).flatten(-3).sum(-1) / seen.flatten(-3).sum(-1).clamp_min(1.0)).sqrt()


@dataclass
class RestorationContext:
    """What reconstruction metrics need beyond the EvalContext: test images and their measurements."""

    truth: torch.Tensor  # (N, C, H, W) uint8: the first N test images
    measurements: Measurements  # theirs, drawn once with the operator's seed
    samples: int  # posterior samples K per measurement

    def fingerprint(self) -> dict[str, Any]:
        return {**self.measurements.op.fingerprint(), "test_images": len(self.truth), "posterior_samples": self.samples}


def restoration_context(raw: dict[str, Any], test_x: torch.Tensor, count: int, samples: int) -> RestorationContext:
    """The measurements of the first ``count`` (0: all) uint8 test images under the operator ``raw``."""
    op = Degradation.from_mapping(raw)
    truth = test_x[:count] if count else test_x
    gen = torch.Generator("cpu").manual_seed(op.seed)
    measurements = op.measure(truth.float() / 255.0, gen)
    return RestorationContext(truth, measurements, samples)
