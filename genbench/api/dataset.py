"""The in-memory image dataset every loader returns."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class DataInfo:
    """What a model needs to size itself to a dataset."""

    name: str
    shape: tuple[int, int, int]  # (C, H, W)
    num_classes: int


@dataclass
class ImageData:
    """Train and test splits held as uint8 NCHW tensors with int64 labels.

    Keeping uint8 in memory is 4x smaller than float32 and exact: :meth:`to_float` gives the
    float32 [0, 1] images (k / 255) that models and metrics see.
    """

    name: str
    train_x: torch.Tensor  # (N, C, H, W) uint8
    train_y: torch.Tensor  # (N,) int64
    test_x: torch.Tensor  # (M, C, H, W) uint8
    test_y: torch.Tensor  # (M,) int64
    num_classes: int

    def __post_init__(self) -> None:
        for x, y in ((self.train_x, self.train_y), (self.test_x, self.test_y)):
            if x.dtype != torch.uint8 or x.dim() != 4:
                raise ValueError(f"images must be uint8 NCHW, got {x.dtype} {tuple(x.shape)}")
            if y.dtype != torch.int64 or y.shape != (x.shape[0],):
                raise ValueError(f"labels must be int64 of length {x.shape[0]}, got {y.dtype} {tuple(y.shape)}")

    @property
    def info(self) -> DataInfo:
        c, h, w = self.train_x.shape[1:]
        return DataInfo(self.name, (int(c), int(h), int(w)), self.num_classes)

    def split(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        if split == "train":
            return self.train_x, self.train_y
        if split == "test":
            return self.test_x, self.test_y
        raise ValueError(f"unknown split {split!r}")

    @staticmethod
    def to_float(x: torch.Tensor) -> torch.Tensor:
        """uint8 -> float32 in [0, 1]."""
        return x.float().div_(255.0)
