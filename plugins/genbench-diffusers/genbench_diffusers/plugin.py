"""Registers the ``diffusers`` family with genbench. Imports no torch: the targets load lazily."""

from __future__ import annotations

from genbench import hookimpl
from genbench.specs import ModelSpec


@hookimpl
def genbench_register_models() -> list[ModelSpec]:
    return [
        ModelSpec(
            name="diffusers",
            family="diffusers",
            target="genbench_diffusers.pipeline:DiffusersPipeline",
            capabilities=frozenset({"sample"}),
            description="a pretrained diffusers image pipeline (--set pretrained=HUB_ID|FOLDER), not trained",
            requires_settings=("pretrained",),
            default=True,
            paper="Ho, Jain & Abbeel 2020, arXiv:2006.11239 (DDPM); Song, Meng & Ermon 2020, arXiv:2010.02502 (DDIM)",
        ),
        ModelSpec(
            name="diffusers-conditional",
            family="diffusers",
            target="genbench_diffusers.pipeline:DiffusersConditionalPipeline",
            capabilities=frozenset({"sample", "conditional"}),
            description="a pretrained class-conditional diffusers pipeline (a UNet with num_class_embeds), not trained",
            requires_settings=("pretrained",),
        ),
    ]
