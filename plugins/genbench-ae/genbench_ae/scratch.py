"""Baseline: aeclf's classifier, trained from scratch on the labelled subset only.

The same encoder and head as :class:`~genbench_ae.aeclf.AEClassifier`, randomly initialised and
trained end to end with cross-entropy on the benchmark's labelled subset for the whole budget,
without ever seeing an unlabelled image. Beside aeclf at the same label budget it shows whether
pre-training helped.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from genbench.api.dataset import DataInfo
from genbench.api.model import Batch, GenerativeModel, StepContext
from genbench.config import setting
from genbench_ae.ae import default_sizes
from genbench_ae.nets import Encoder, LabelledSet, classifier_head


@dataclass
class ScratchClassifierConfig:
    latent_dim: int = setting(32, ge=1, le=4096)  # as aeclf: the code the head reads and `encode` gives
    hidden: int = setting(16, ge=1, le=4096)  # as aeclf's encoder
    head_hidden: int = setting(128, ge=1, le=4096)  # as aeclf's head
    lr: float = setting(1e-3, gt=0, le=1)  # Adam learning rate


class ScratchClassifier(GenerativeModel):
    Config = ScratchClassifierConfig
    capabilities = frozenset({"encode", "classify"})
    uses_labelled_subset = True

    def __init__(self, config: ScratchClassifierConfig, info: DataInfo) -> None:
        super().__init__(config, info)
        self.encoder = Encoder(info.shape, config.hidden, config.latent_dim)
        self.head = classifier_head(config.latent_dim, config.head_hidden, info.num_classes)
        self.labelled: LabelledSet | None = None

    @classmethod
    def default_config(cls, info: DataInfo) -> ScratchClassifierConfig:
        return cls.Config(**default_sizes(info))

    def set_labelled(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.labelled = LabelledSet(x, y)

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"classifier": torch.optim.Adam(self.parameters(), lr=self.config.lr)}

    def training_step(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        if self.labelled is None:
            raise RuntimeError("clf-scratch trains on the labelled subset: the engine calls set_labelled first")
        # The engine's batch (every training image) is not used: only labelled images are.
        x, y = self.labelled.batch(ctx.step, len(batch.x), ctx.device)
        with ctx.autocast():
            loss = F.cross_entropy(self.head(self.encoder(x)).float(), y)
        ctx.optimize(loss, "classifier")
        return {"clf": loss.detach()}

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x).float()

    @torch.no_grad()
    def classify(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x)).float()
