"""Seeded noise, drawn one way everywhere (diffusers' ``randn_tensor`` is the model).

A ``torch.Generator`` lives on one device. genbench's evaluation passes a CPU generator, so
that a seed gives the same samples on a CPU and a GPU: noise is drawn on the generator's own
device and then moved to the device the model computes on. With no generator the global RNG
of ``device`` is used (training steps, where the engine seeds and checkpoints that RNG).
"""

from __future__ import annotations

import torch


def _draw_device(generator: torch.Generator | None, device: torch.device | str) -> torch.device:
    return generator.device if generator is not None else torch.device(device)


def randn_tensor(
    shape: tuple[int, ...],
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Standard normal noise of ``shape`` from ``generator`` (drawn on its device), on ``device``.

    ``dtype`` None: torch's default float dtype (float32, or float64 in :func:`genbench.testing.float64`).
    """
    x = torch.randn(shape, generator=generator, device=_draw_device(generator, device), dtype=dtype)
    return x.to(device)


def rand_tensor(
    shape: tuple[int, ...],
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Uniform noise on [0, 1) of ``shape`` from ``generator`` (drawn on its device), on ``device``; ``dtype``
    as in :func:`randn_tensor`."""
    x = torch.rand(shape, generator=generator, device=_draw_device(generator, device), dtype=dtype)
    return x.to(device)


def randint_tensor(
    high: int,
    shape: tuple[int, ...],
    *,
    low: int = 0,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """int64 integers in [low, high) of ``shape`` from ``generator`` (drawn on its device), on ``device``."""
    x = torch.randint(low, high, shape, generator=generator, device=_draw_device(generator, device))
    return x.to(device)
