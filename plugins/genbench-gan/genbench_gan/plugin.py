"""Registers the ``gan`` family with genbench. Imports no torch: the targets load lazily."""

from __future__ import annotations

from genbench import hookimpl
from genbench.specs import ModelSpec


@hookimpl
def genbench_register_models() -> list[ModelSpec]:
    return [
        ModelSpec(
            name="dcgan",
            family="gan",
            target="genbench_gan.dcgan:DCGAN",
            capabilities=frozenset({"sample"}),
            description="Deep convolutional GAN, non-saturating loss",
            default=True,
            paper="Radford, Metz & Chintala 2015, arXiv:1511.06434",
        ),
        ModelSpec(
            name="cgan",
            family="gan",
            target="genbench_gan.cgan:CGAN",
            capabilities=frozenset({"sample", "conditional"}),
            description="Class-conditional GAN: conditional batch norm in G, projection discriminator",
            paper="Mirza & Osindero 2014, arXiv:1411.1784; Miyato & Koyama 2018, arXiv:1802.05637",
        ),
        ModelSpec(
            name="wgan-gp",
            family="gan",
            target="genbench_gan.wgan_gp:WGANGP",
            capabilities=frozenset({"sample"}),
            description="Wasserstein GAN with gradient penalty, n_critic critic steps per generator step",
            paper="Gulrajani et al. 2017, arXiv:1704.00028",
        ),
        ModelSpec(
            name="stylegan",
            family="gan",
            target="genbench_gan.stylegan:StyleGAN",
            capabilities=frozenset({"sample"}),
            description="Small StyleGAN2: mapping network, modulated convs, noise, style mixing, R1, G EMA",
            paper="Karras et al. 2019, arXiv:1812.04948; Karras et al. 2020, arXiv:1912.04958",
        ),
    ]
