"""scikit-learn's bundled 8x8 handwritten digits: a real dataset that needs no files."""

from __future__ import annotations

from pathlib import Path

import torch

from genbench.api.dataset import ImageData

TEST_SIZE = 360  # 20% of 1,797, a fixed split so every run scores the same test images


def load(root: Path | None = None) -> ImageData:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # Pixel values are counts 0..16 (4x4 blocks of a 32x32 bitmap); map them onto 8-bit levels.
    x = torch.from_numpy(bunch.images).round().mul(255.0 / 16.0).round().to(torch.uint8).unsqueeze(1)
    y = torch.from_numpy(bunch.target).long()
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    test, train = order[:TEST_SIZE], order[TEST_SIZE:]
    return ImageData("digits", x[train], y[train], x[test], y[test], num_classes=10)
