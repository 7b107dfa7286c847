"""Registers the ``ae`` family with genbench. Must not import torch."""

from __future__ import annotations

from genbench import hookimpl
from genbench.specs import ModelSpec

_AE = frozenset({"reconstruct", "encode"})


@hookimpl
def genbench_register_models() -> list[ModelSpec]:
    return [
        ModelSpec(
            name="aeclf",
            family="ae",
            target="genbench_ae.aeclf:AEClassifier",
            capabilities=_AE | {"classify"},
            description="AE pre-trained on every training image, then a classifier head on its encoder "
            "trained on the labelled subset (--set finetune=true to fine-tune the encoder)",
            default=True,
            paper="Hinton & Salakhutdinov 2006; Vincent et al. 2008 (pre-training then supervised fine-tuning)",
        ),
        ModelSpec(
            name="ae",
            family="ae",
            target="genbench_ae.ae:AE",
            capabilities=_AE,
            description="convolutional autoencoder, cross-entropy reconstruction of 8-bit images",
            paper="Hinton & Salakhutdinov 2006, Science 313:504",
        ),
        ModelSpec(
            name="dae",
            family="ae",
            target="genbench_ae.dae:DAE",
            capabilities=_AE,
            description="denoising autoencoder: reconstructs clean images from masked ones",
            paper="Vincent, Larochelle, Bengio & Manzagol 2008, ICML (Extracting and composing robust features)",
        ),
        ModelSpec(
            name="clf-scratch",
            family="ae",
            target="genbench_ae.scratch:ScratchClassifier",
            capabilities=frozenset({"encode", "classify"}),
            description="baseline: aeclf's encoder and head trained from scratch on the labelled subset only",
        ),
        ModelSpec(
            name="pca",
            family="ae",
            target="genbench_ae.pca:PCA",
            capabilities=_AE,
            description="baseline: principal components of the training images, as many as the AE's code",
        ),
        ModelSpec(
            name="pixels",
            family="ae",
            target="genbench_ae.pixels:Pixels",
            capabilities=frozenset({"encode"}),
            description="baseline: the raw pixels as features (nothing learnt)",
        ),
    ]
