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
    # Two-domain (unpaired translation) datasets: the splits above are domain A, these domain B,
    # of the same image shape. No image of one training domain appears in the other.
    train_b_x: torch.Tensor | None = None  # (N_b, C, H, W) uint8
    train_b_y: torch.Tensor | None = None  # (N_b,) int64
    test_b_x: torch.Tensor | None = None  # (M_b, C, H, W) uint8
    test_b_y: torch.Tensor | None = None  # (M_b,) int64
    paired_test: bool = False  # test_b_x[i] is test_x[i]'s known counterpart (evaluation only)

    def __post_init__(self) -> None:
        b_splits = (self.train_b_x, self.train_b_y, self.test_b_x, self.test_b_y)
        if any(t is not None for t in b_splits) and any(t is None for t in b_splits):
            raise ValueError("a two-domain dataset needs all of train_b_x, train_b_y, test_b_x, test_b_y")
        pairs = [(self.train_x, self.train_y), (self.test_x, self.test_y)]
        if self.has_domain_b:
            train_b_x, train_b_y, test_b_x, test_b_y = self.splits_b
            pairs += [(train_b_x, train_b_y), (test_b_x, test_b_y)]
            if train_b_x.shape[1:] != self.train_x.shape[1:]:
                raise ValueError("both domains must hold images of one shape")
            if self.paired_test and len(test_b_x) != len(self.test_x):
                raise ValueError("paired test splits must have one counterpart per image")
        for x, y in pairs:
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

    @property
    def has_domain_b(self) -> bool:
        """True for a two-domain dataset (for translation models)."""
        return self.train_b_x is not None

    @property
    def splits_b(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Domain B's (train_b_x, train_b_y, test_b_x, test_b_y); a ValueError on one-domain data."""
        train_b_x, train_b_y, test_b_x, test_b_y = self.train_b_x, self.train_b_y, self.test_b_x, self.test_b_y
        if train_b_x is None or train_b_y is None or test_b_x is None or test_b_y is None:
            raise ValueError(f"dataset {self.name!r} has one domain")
        return train_b_x, train_b_y, test_b_x, test_b_y

    def domain(self, which: str) -> ImageData:
        """Domain ``"a"`` or ``"b"`` of a two-domain dataset as a one-domain ImageData."""
        if which == "a":
            return ImageData(f"{self.name}/A", self.train_x, self.train_y, self.test_x, self.test_y, self.num_classes)
        if which == "b" and self.has_domain_b:
            return ImageData(f"{self.name}/B", *self.splits_b, self.num_classes)
        raise ValueError(f"dataset {self.name!r} has no domain {which!r}")

    @staticmethod
    def to_float(x: torch.Tensor) -> torch.Tensor:
        """uint8 -> float32 in [0, 1]."""
        return x.float().div_(255.0)
