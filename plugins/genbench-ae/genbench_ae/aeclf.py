"""Classification with autoencoder features: unsupervised pre-training, then a classifier head.

Two stages in one run, as the semi-supervised recipe of Hinton & Salakhutdinov 2006 and
Vincent et al. 2008 (pre-train on every image, then learn from the few labels):

1. For the first ``ae_steps`` steps the :class:`~genbench_ae.ae.AE` trains on every training
   image the engine gives it (their labels are never read).
2. A classifier head (an MLP on the code) trains on the benchmark's labelled subset only, handed
   over by the engine through ``set_labelled``. With ``finetune=false`` the encoder stays frozen;
   with ``finetune=true`` it is fine-tuned too, at ``finetune_lr_scale`` times the head's rate.

The head also trains on detached codes during stage 1 (a warm-up that costs one small MLP step),
so both optimizers step from the first batch and a budget shorter than ``ae_steps`` still
yields a classifier, with a warning.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from genbench.api.dataset import DataInfo
from genbench.api.model import Batch, StepContext
from genbench.config import setting
from genbench_ae.ae import AE, AEConfig, default_sizes
from genbench_ae.nets import LabelledSet, classifier_head


@dataclass
class AEClassifierConfig(AEConfig):
    # steps of autoencoder pre-training; a quick 28x28 run has 938 (60,000 / 64)
    ae_steps: int = setting(600, ge=0, le=10**9)
    finetune: bool = False  # stage 2: fine-tune the encoder with the head (true) or keep it frozen
    head_hidden: int = setting(128, ge=1, le=4096)  # width of the classifier head's hidden layer
    clf_lr: float = setting(1e-3, gt=0, le=1)  # Adam learning rate of the head
    finetune_lr_scale: float = setting(0.1, ge=0, le=10)  # the encoder's rate in stage 2 is clf_lr times this


class AEClassifier(AE):
    Config = AEClassifierConfig
    capabilities = frozenset({"reconstruct", "encode", "classify"})
    uses_labelled_subset = True

    def __init__(self, config: AEClassifierConfig, info: DataInfo) -> None:
        super().__init__(config, info)
        self.head = classifier_head(config.latent_dim, config.head_hidden, info.num_classes)
        self.labelled: LabelledSet | None = None

    @classmethod
    def default_config(cls, info: DataInfo) -> AEClassifierConfig:
        sizes = default_sizes(info)
        if info.shape[1] * info.shape[2] <= 64:  # 8x8 digits: a quick run has 313 steps
            sizes["ae_steps"] = 200
        return cls.Config(**sizes)

    def set_labelled(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.labelled = LabelledSet(x, y)

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        cfg = self.config
        ae_params = list(self.encoder.parameters()) + list(self.decoder.parameters())
        # The classifier's optimizer holds the encoder too: its parameters get gradients from the
        # classification loss only when fine-tuning in stage 2 (Adam skips parameters without one).
        groups = [{"params": self.head.parameters()}]
        if cfg.finetune:
            groups.append({"params": self.encoder.parameters(), "lr": cfg.clf_lr * cfg.finetune_lr_scale})
        return {
            "autoencoder": torch.optim.Adam(ae_params, lr=cfg.lr),
            "classifier": torch.optim.Adam(groups, lr=cfg.clf_lr),
        }

    def training_step(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        if self.labelled is None:
            raise RuntimeError("aeclf trains on the benchmark's labelled subset: the engine calls set_labelled first")
        cfg = self.config
        pretraining = ctx.step < cfg.ae_steps
        losses: dict[str, torch.Tensor] = {}
        with ctx.autocast():
            if pretraining:  # stage 1: the autoencoder learns from every image
                rec = self.reconstruction_loss(batch.x)
                ctx.optimize(rec, "autoencoder")
                losses["loss"] = rec.detach()
            x_lab, y_lab = self.labelled.batch(ctx.step, len(batch.x), ctx.device)
            code = self.encoder(x_lab)  # (B, latent_dim)
            if pretraining or not cfg.finetune:
                code = code.detach()
            clf = F.cross_entropy(self.head(code).float(), y_lab)
        ctx.optimize(clf, "classifier")
        # Stage 2 logs no `loss`: reconstructing a batch only to log it would cost more than the step.
        return {**losses, "clf": clf.detach()}

    def training_warning(self, history: Mapping[str, Sequence[tuple[int, float]]]) -> str | None:
        steps = max((step for step, _ in history.get("clf", [])), default=0)
        if steps and steps <= self.config.ae_steps:
            return (
                f"the budget ended at step {steps}, within the {self.config.ae_steps} pre-training steps: "
                "the head only saw moving codes; lower ae_steps or raise the budget"
            )
        return None

    @torch.no_grad()
    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits of the head on the code: (B, num_classes)."""
        return self.head(self.encoder(x)).float()
