"""Registers the ``cyclegan`` family with genbench. Imports no torch: the targets load lazily."""

from __future__ import annotations

from genbench import hookimpl
from genbench.specs import ModelSpec


@hookimpl
def genbench_register_models() -> list[ModelSpec]:
    return [
        ModelSpec(
            name="cyclegan",
            family="cyclegan",
            target="genbench_cyclegan.cyclegan:CycleGAN",
            capabilities=frozenset({"translate"}),
            description="CycleGAN: ResNet generators, PatchGAN discriminators, LSGAN + cycle + identity losses",
            default=True,
            paper="Zhu, Park, Isola & Efros 2017, arXiv:1703.10593",
        ),
        ModelSpec(
            name="identity",
            family="cyclegan",
            target="genbench_cyclegan.identity:Identity",
            capabilities=frozenset({"translate"}),
            description="baseline: translate returns its input; nothing is trained",
        ),
    ]
