"""Small helpers every GAN of this plugin uses in the same way."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence

import torch
from torch import nn

from genbench.api import randint_tensor, randn_tensor


def plan_resolution(height: int, width: int) -> tuple[int, int, int]:
    """The base grid a generator starts from and how many 2x upsamplings reach the image.

    Halves the size while it stays even and at least 4: 8 -> (4, 1), 28 -> (7, 2),
    32 -> (4, 3). Returns ``(h0, w0, n_up)`` with ``h0 * 2**n_up == height``.
    """
    h, w, n_up = height, width, 0
    while h % 2 == 0 and w % 2 == 0 and h // 2 >= 4 and w // 2 >= 4:
        h, w, n_up = h // 2, w // 2, n_up + 1
    if n_up == 0:
        raise ValueError(f"images of {height}x{width} are too small or odd-sized for a GAN here (need >= 8, even)")
    return h, w, n_up


def to_signed(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] images -> [-1, 1], the range the networks work in (Radford et al. 2015)."""
    return x * 2.0 - 1.0


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] network output -> float32 images in [0, 1]."""
    return ((x.float() + 1.0) / 2.0).clamp(0.0, 1.0)


def gaussian(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """Standard normal noise drawn from ``generator`` (on its own device), placed on ``device``."""
    return randn_tensor(shape, generator=generator, device=device)


def uniform_labels(n: int, num_classes: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """(n,) int64 labels drawn uniformly from ``generator``."""
    return randint_tensor(num_classes, (n,), generator=generator, device=device)


def refuse_labels(labels: torch.Tensor | None, model: str) -> None:
    """Unconditional models cannot honour labels; say so rather than ignore them."""
    if labels is not None:
        raise ValueError(f"{model} is unconditional: sample() takes no labels (use the cgan model)")


def ema_decay(batch_size: int, images_seen: int, half_life: int, rampup: float = 0.05) -> float:
    """Per-step EMA decay for a half-life counted in images, with StyleGAN2-ADA's ramp-up.

    The ramp-up caps the half-life at ``rampup * images_seen`` so that an early EMA copy
    does not stay anchored to the random initial weights (Karras et al. 2020a, ADA code).
    """
    span = float(half_life)
    if rampup > 0:
        span = min(span, images_seen * rampup)
    return 0.5 ** (batch_size / max(span, 1e-8))


def dcgan_init(module: nn.Module) -> None:
    """Weights from N(0, 0.02) (Radford et al. 2015, sec. 4); batch-norm gains from N(1, 0.02),
    as in the PyTorch DCGAN example."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d) and module.affine:
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Skip weight gradients of ``module`` (the other player) while one player steps."""
    flags = [p.requires_grad for p in module.parameters()]
    module.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags):
            p.requires_grad_(flag)


@torch.no_grad()
def spread_ratio(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Per-pixel standard deviation across the fake batch over that of the real batch.

    Near 1 when the generator is as varied as the data; falling towards 0 is mode collapse,
    which the run view plots beside the losses and ``WarnsOnCollapse`` reports.
    """
    return fake.float().std(0).mean() / real.float().std(0).mean().clamp_min(1e-8)


# Calibrated on this plugin's quick MNIST/Fashion-MNIST runs: healthy dcgan, cgan and stylegan
# runs keep `spread` above 0.64 once the generator has taken 200 updates (it starts near 0.2 for
# DCGAN-style generators, which is why the first updates are not judged), while a StyleGAN that
# collapsed to one or two images sat at 0.3. wgan-gp makes one generator update per batch by
# default (reuse_real); to the letter of Algorithm 1 a quick MNIST run ends at 188 and is not judged.
COLLAPSE_SPREAD = 0.4
COLLAPSE_AFTER_UPDATES = 200


class WarnsOnCollapse:
    """Mixin for the GAN models: a training warning when the generated batch stops varying."""

    def generator_updates(self, step: int) -> int:
        """Generator updates made in the first ``step`` training steps."""
        return step

    def training_warning(self, history: Mapping[str, Sequence[tuple[int, float]]]) -> str | None:
        spread = history.get("spread", [])
        judged = [(s, v) for s, v in spread if self.generator_updates(s) >= COLLAPSE_AFTER_UPDATES]
        low = [(s, v) for s, v in judged if v < COLLAPSE_SPREAD]
        if not low:
            return None
        step, value = min(low, key=lambda point: point[1])
        return (
            f"possible mode collapse: spread (the samples' variety over the data's) fell to {value:.2f} "
            f"at step {step}, below {COLLAPSE_SPREAD} in {len(low)} of {len(judged)} log points; "
            "look at samples.png and the spread curve in losses.png"
        )
