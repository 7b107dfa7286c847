"""Baseline: principal component analysis of the training images (Pearson 1901; Hotelling 1933).

Training accumulates the mean and the second moments of every image the engine shows (one
pass over the data at a one-epoch budget), in float64 buffers so that checkpoints carry them.
The top ``components`` eigenvectors of the covariance are the encoder: ``encode`` gives the
projection of the centred image, ``reconstruct`` maps it back. By default ``components`` equals
the AE's code size on the dataset, so PCA is the linear autoencoder of the same width.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from genbench.api.dataset import DataInfo
from genbench.api.model import Batch, GenerativeModel, StepContext
from genbench.config import setting
from genbench_ae.ae import AEConfig, default_sizes


@dataclass
class PCAConfig:
    components: int = setting(32, ge=1, le=100_000)  # principal components kept: the feature dimension


class PCA(GenerativeModel):
    Config = PCAConfig
    capabilities = frozenset({"reconstruct", "encode"})

    def __init__(self, config: PCAConfig, info: DataInfo) -> None:
        super().__init__(config, info)
        dim = info.shape[0] * info.shape[1] * info.shape[2]
        if not 0 < config.components <= dim:
            raise ValueError(f"components must lie in [1, {dim}], got {config.components}")
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("total", torch.zeros(dim, dtype=torch.float64))  # Σ x
        self.register_buffer("outer", torch.zeros(dim, dim, dtype=torch.float64))  # Σ x xᵀ
        self._fit: tuple[float, torch.Tensor, torch.Tensor] | None = None  # (count, mean, basis) cache

    @classmethod
    def default_config(cls, info: DataInfo) -> PCAConfig:
        return cls.Config(components=default_sizes(info).get("latent_dim", AEConfig.latent_dim))

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {}  # no gradient descent: the moments are sums

    def training_step(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        x = batch.x.flatten(1).double()  # (B, D); labels are not used
        self.count += len(x)
        self.total += x.sum(0)
        self.outer += x.T @ x
        return {}

    def basis(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The mean image (D,) and the top principal directions (D, components), float32."""
        if self.count <= 1:
            raise RuntimeError("pca has seen no training images: train it first")
        if self._fit is None or self._fit[0] != float(self.count):
            mean = self.total / self.count
            cov = self.outer / self.count - torch.outer(mean, mean)  # (D, D)
            _, vectors = torch.linalg.eigh(cov)  # eigenvalues ascending
            top = vectors[:, -self.config.components :].flip(1)  # (D, k), largest first
            # Fix each direction's sign (eigh's is arbitrary) so features do not flip between fits.
            top = top * torch.sign(top[top.abs().argmax(0), torch.arange(top.shape[1])])
            self._fit = (float(self.count), mean.float(), top.float())
        return self._fit[1], self._fit[2]

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Coordinates of the centred image on the principal directions: (B, components)."""
        mean, top = self.basis()
        return (x.flatten(1).float() - mean.to(x.device)) @ top.to(x.device)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """The projection of x on the principal subspace, clamped to [0, 1]: (B, C, H, W)."""
        mean, top = self.basis()
        mean, top = mean.to(x.device), top.to(x.device)
        flat = mean + ((x.flatten(1).float() - mean) @ top) @ top.T
        return flat.clamp(0.0, 1.0).view_as(x)
