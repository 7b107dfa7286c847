"""A deterministic restorer: the MMSE estimate E[x | y] learnt by regression.

The same backbone as ``cvae-recon`` (:class:`~genbench_vae.restore_nets.RestoreNet` on the
measurement's fill and mask), trained on the mean squared error between its output and the
clean image, whose minimiser is the posterior mean. It has no uncertainty: its K samples are K
copies. Beside ``cvae-recon`` it shows what a posterior adds beyond the point estimate.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from genbench.api.dataset import DataInfo
from genbench.api.model import Batch, GenerativeModel, StepContext
from genbench.api.restoration import Degradation, Measurements
from genbench.config import setting
from genbench_vae.restore_nets import RestoreNet


@dataclass
class MMSEConfig:
    hidden: int = setting(32, ge=1, le=1024, help="channels of the backbone")
    blocks: int = setting(4, ge=1, le=64, help="residual blocks of the backbone (dilations 1, 2, 4, 8, ...)")
    lr: float = setting(1e-3, gt=0, le=1, help="Adam learning rate")


class MMSENet(GenerativeModel):
    Config = MMSEConfig
    capabilities = frozenset({"restore"})
    uses_degradation = True

    def __init__(self, config: MMSEConfig, info: DataInfo) -> None:
        super().__init__(config, info)
        c = info.shape[0]
        self.net = RestoreNet(c + 1, c, config.hidden, config.blocks)
        self.op: Degradation | None = None

    def set_degradation(self, op: Degradation) -> None:
        self.op = op

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"net": torch.optim.Adam(self.net.parameters(), lr=self.config.lr)}

    def estimate(self, m: Measurements) -> torch.Tensor:
        """The point estimate, (N, C, H, W) in [0, 1]."""
        return torch.sigmoid(self.net(m.condition()))

    def training_step(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        if self.op is None:
            raise RuntimeError("mmse learns to undo a degradation: the engine calls set_degradation first")
        m = self.op.measure(batch.x)  # fresh noise and masks for every batch
        with ctx.autocast():
            loss = F.mse_loss(self.estimate(m).float(), batch.x)
        ctx.optimize(loss, "net")
        return {"loss": loss.detach()}

    @torch.no_grad()
    def restore(self, m: Measurements, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """K copies of the estimate: (N, K, C, H, W)."""
        return self.estimate(m).float().unsqueeze(1).expand(-1, k, -1, -1, -1).contiguous()
