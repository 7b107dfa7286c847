"""M2, the semi-supervised VAE of Kingma et al. 2014 (arXiv:1406.5298), on pixels.

The class label is a partly observed latent variable: labelled images train L(x, y), every
training image (its label unused) trains U(x), and the classifier q(y | x) also pays α times
its cross-entropy on labelled pairs, α = ``alpha_per_dim`` × the pixel count (the ELBO grows
with the image size). ``classify`` returns q(y | x)'s logits. Pixels are Bernoulli with grey
levels as soft targets. Labels come only from the benchmark's labelled subset
(``--set eval.labels=100``), handed over by the engine.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from genbench.api.dataset import DataInfo
from genbench.api.model import Batch, GenerativeModel, StepContext
from genbench.config import setting
from genbench_vae.ssl_nets import M2, LabelledSet


@dataclass
class M2Config:
    hidden: int = setting(500, ge=1, le=8192, help="units of each MLP's two hidden layers (the paper: 500)")
    latent_dim: int = setting(50, ge=1, le=4096, help="size of z (the paper: 50)")
    lr: float = setting(3e-4, gt=0, le=1, help="Adam learning rate")
    alpha_per_dim: float = setting(0.1, ge=0, le=1e6, help="weight of the labelled cross-entropy per input dimension")


class M2Model(GenerativeModel):
    Config = M2Config
    capabilities = frozenset({"classify"})
    uses_labelled_subset = True

    def __init__(self, config: M2Config, info: DataInfo) -> None:
        super().__init__(config, info)
        dim = int(torch.tensor(info.shape).prod())
        self.m2 = M2(dim, info.num_classes, config.hidden, config.latent_dim, "bernoulli")
        self.alpha = config.alpha_per_dim * dim
        self.labelled: LabelledSet | None = None

    def set_labelled(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.labelled = LabelledSet(x, y)

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"m2": torch.optim.Adam(self.m2.parameters(), lr=self.config.lr)}

    def training_step(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        if self.labelled is None:
            raise RuntimeError("m2 trains on the benchmark's labelled subset: the engine calls set_labelled first")
        x_l, y_l = self.labelled.batch(ctx.step, len(batch.x), batch.x.device)
        with ctx.autocast():
            parts = self.m2.loss(batch.x.flatten(1), x_l.flatten(1), y_l, self.alpha)
        ctx.optimize(parts["loss"].float(), "m2")
        return {k: v.detach().float() for k, v in parts.items()}

    @torch.no_grad()
    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """q(y | x) logits, (B, num_classes)."""
        out: torch.Tensor = self.m2.classifier(x.flatten(1).float())
        return out
