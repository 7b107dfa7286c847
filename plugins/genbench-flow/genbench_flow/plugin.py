"""Registers the ``flow`` family with genbench. Must not import torch."""

from __future__ import annotations

from genbench import hookimpl
from genbench.specs import ModelSpec

_CORE = frozenset({"sample", "log_likelihood", "encode"})


@hookimpl
def genbench_register_models() -> list[ModelSpec]:
    return [
        ModelSpec(
            name="glow",
            family="flow",
            target="genbench_flow.glow:Glow",
            capabilities=_CORE,
            description="Glow: actnorm, LU 1x1 convolutions, affine coupling, learned split priors; exact log P(x)",
            default=True,
            paper="Kingma & Dhariwal 2018, Glow: Generative Flow with Invertible 1x1 Convolutions, arXiv:1807.03039",
        ),
        ModelSpec(
            name="cglow",
            family="flow",
            target="genbench_flow.glow:ConditionalGlow",
            capabilities=_CORE | {"conditional"},
            description="Glow conditioned on the class (priors and couplings); log_likelihood marginalises it",
            paper="Kingma & Dhariwal 2018, arXiv:1807.03039 (y-conditioned prior, their Sec. 5)",
        ),
        ModelSpec(
            name="realnvp",
            family="flow",
            target="genbench_flow.realnvp:RealNVP",
            capabilities=_CORE,
            description="RealNVP: multi-scale checkerboard and channel-wise affine couplings with ResNet s/t",
            paper="Dinh, Sohl-Dickstein & Bengio 2017, Density estimation using Real NVP, arXiv:1605.08803",
        ),
    ]
