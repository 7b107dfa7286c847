"""Registers the ``vae`` family with genbench. Must not import torch."""

from __future__ import annotations

from genbench import hookimpl
from genbench.specs import ModelSpec

_CORE = frozenset({"sample", "log_likelihood", "reconstruct", "encode"})


@hookimpl
def genbench_register_models() -> list[ModelSpec]:
    return [
        ModelSpec(
            name="vae",
            family="vae",
            target="genbench_vae.vae:VAE",
            capabilities=_CORE,
            description="convolutional VAE, discretised logistic decoder, IWAE bound on log P(x)",
            default=True,
            paper="Kingma & Welling 2014, arXiv:1312.6114",
        ),
        ModelSpec(
            name="cvae",
            family="vae",
            target="genbench_vae.cvae:CVAE",
            capabilities=_CORE | {"conditional"},
            description="class-conditional VAE: q(z|x), p(x|z,y); log_likelihood is log P(x|y), or log P(x) without y",
            paper="Sohn, Lee & Yan 2015, NeurIPS",
        ),
        # Reconstruction from degraded measurements (the benchmarks that declare eval.degradation).
        ModelSpec(
            name="cvae-recon",
            family="vae",
            target="genbench_vae.cvae_recon:CVAERecon",
            capabilities=frozenset({"restore"}),
            description="conditional VAE on the measurement: prior p(z|y), encoder q(z|x,y), decoder p(x|z,y)",
            paper="Zhang, Barbano & Jin 2021, arXiv:2110.11681",
        ),
        ModelSpec(
            name="mmse",
            family="vae",
            target="genbench_vae.mmse:MMSENet",
            capabilities=frozenset({"restore"}),
            description="baseline: cvae-recon's backbone trained on squared error (E[x|y], no uncertainty)",
        ),
        ModelSpec(
            name="measured",
            family="vae",
            target="genbench_vae.measured:Measured",
            capabilities=frozenset({"restore"}),
            description="baseline: the measurement with the classical fill (clip, hole mean, nearest upsampling)",
        ),
        # Semi-supervised classification under the benchmark's label budgets (eval.labels).
        ModelSpec(
            name="m2",
            family="vae",
            target="genbench_vae.m2:M2Model",
            capabilities=frozenset({"classify"}),
            description="semi-supervised VAE: the label as a partly observed latent, classifier q(y|x)",
            paper="Kingma, Rezende, Mohamed & Welling 2014, arXiv:1406.5298",
        ),
        ModelSpec(
            name="m1m2",
            family="vae",
            target="genbench_vae.m1m2:M1M2Model",
            capabilities=frozenset({"classify"}),
            description="M1+M2: a VAE's code (M1) modelled by the semi-supervised M2",
            paper="Kingma, Rezende, Mohamed & Welling 2014, arXiv:1406.5298",
        ),
    ]
