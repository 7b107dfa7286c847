"""How a diffusion U-Net's training step runs on the hardware: torch.compile, memory format, fused Adam.

None of these changes what the step computes beyond floating-point rounding. They are settings
of the model's config (so they are recorded with the run), and they leave the module tree alone:
``nn.Module.compile`` wraps the module's call in place, so the state dict has no ``_orig_mod.``
prefix and a checkpoint written with ``compile`` on loads into a model with it off, and back.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import torch
from torch import nn

# "reduce-overhead" captures the compiled step in CUDA graphs: one launch replays the whole
# graph, the fix for a step bound by kernel launches on the CPU side (small batches on a big GPU).
CompileMode = Literal["off", "default", "reduce-overhead", "max-autotune"]


def prepare_network(net: nn.Module, *, compile: CompileMode, channels_last: bool) -> None:
    """Put ``net`` in NHWC memory format and/or compile its forward (lazily: on the first call)."""
    if channels_last:
        # 4-D weights in NHWC, which tensor-core convolutions (cuDNN, bf16/tf32) prefer; .to(device)
        # later preserves the format.
        net.to(memory_format=torch.channels_last)
    if compile != "off":
        net.compile(mode=None if compile == "default" else compile)


def to_memory_format(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """A (B, C, H, W) input in the network's memory format."""
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def adam(params: Iterable[nn.Parameter], lr: float) -> torch.optim.Adam:
    """Adam, with PyTorch's fused CUDA kernel (one launch for every tensor) when all parameters are on a GPU.

    Trainers call ``configure_optimizers`` after ``model.to(device)``, so the device is known here.
    On the CPU the default implementation stays, so CPU runs compute exactly what they did before.
    """
    params = list(params)
    on_gpu = bool(params) and all(p.is_cuda for p in params)
    return torch.optim.Adam(params, lr=lr, fused=True if on_gpu else None)
