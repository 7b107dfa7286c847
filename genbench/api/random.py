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


# The smallest uniform fed to the inverse normal CDF: torch.rand's float64 draws lie on a 2^-53
# grid in [0, 1), so 0 (an infinite normal) is replaced by a value beyond any other draw.
_UNIFORM_FLOOR = 2.0**-54


def normal_per_item(
    n: int,
    shape: tuple[int, ...],
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Standard normal noise (n, *shape), item by item: item i's noise is the same whatever n is.

    Draws n · prod(shape) float64 uniforms on the CPU (or on ``generator``'s device) and maps
    them through the inverse normal CDF. The CPU draws them one after another, so drawing the
    items of two batches in turn gives exactly the numbers one batch of both would get; this is
    what makes a Monte Carlo estimate per image (an importance-weighted bound, a stratified
    diffusion bound) independent of the evaluation's batch size. ``torch.randn`` does not have
    this property: it fills blocks of 16 values, so its numbers depend on where a call's size ends.
    """
    u = uniform_per_item(n, shape, generator=generator)
    return normal_from_uniform(u).to(device=device, dtype=dtype or torch.get_default_dtype())


def normal_from_uniform(u: torch.Tensor) -> torch.Tensor:
    """Standard normal values from float64 uniforms on [0, 1), elementwise (the inverse normal CDF)."""
    return torch.special.ndtri(u.clamp(min=_UNIFORM_FLOOR))


def uniform_per_item(
    n: int,
    shape: tuple[int, ...],
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """float64 uniforms on [0, 1) of shape (n, *shape), item by item as :func:`normal_per_item` draws them."""
    u = torch.rand((n, *shape), generator=generator, device=_draw_device(generator, "cpu"), dtype=torch.float64)
    return u.to(device)
