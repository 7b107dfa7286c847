"""Registers the diffusion family with genbench. Imports no torch."""

from __future__ import annotations

from genbench import hookimpl
from genbench.specs import ModelSpec


@hookimpl
def genbench_register_models() -> list[ModelSpec]:
    return [
        ModelSpec(
            name="ddpm",
            family="diffusion",
            target="genbench_diffusion.ddpm:DDPM",
            capabilities=frozenset({"sample", "conditional", "log_likelihood", "restore"}),
            description="DDPM U-Net, ε-prediction; DDPM/DDIM samplers, classifier-free guidance, variational bound; "
            "restores degraded images as a prior (RePaint, DDNM)",
            default=True,
            paper="Ho, Jain & Abbeel 2020, Denoising Diffusion Probabilistic Models, arXiv:2006.11239",
        ),
        ModelSpec(
            name="ldm",
            family="diffusion",
            target="genbench_diffusion.ldm:LDM",
            capabilities=frozenset({"sample", "conditional", "reconstruct", "encode"}),
            description="latent diffusion: KL autoencoder trained first, then a DDPM U-Net on its latents",
            paper="Rombach et al. 2022, High-Resolution Image Synthesis with Latent Diffusion Models, arXiv:2112.10752",
        ),
    ]
