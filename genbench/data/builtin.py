"""Registers genbench's built-in datasets through the public hook."""

from __future__ import annotations

from genbench import hookimpl
from genbench.specs import DatasetSpec


@hookimpl
def genbench_register_datasets() -> list[DatasetSpec]:
    return [
        DatasetSpec(
            "digits",
            "genbench.data.digits:load",
            (1, 8, 8),
            10,
            "scikit-learn's bundled 8x8 digits (1,437 train / 360 test); no files needed",
            needs_files=False,
        ),
        DatasetSpec(
            "mnist",
            "genbench.data.torchvision_sets:load_mnist",
            (1, 28, 28),
            10,
            "MNIST handwritten digits 28x28 (60,000 / 10,000)",
            layout="<root>/MNIST/raw/*-ubyte.gz",
        ),
        DatasetSpec(
            "fashion-mnist",
            "genbench.data.torchvision_sets:load_fashion_mnist",
            (1, 28, 28),
            10,
            "Fashion-MNIST clothing 28x28 (60,000 / 10,000)",
            layout="<root>/FashionMNIST/raw/*-ubyte.gz",
        ),
        DatasetSpec(
            "cifar10",
            "genbench.data.torchvision_sets:load_cifar10",
            (3, 32, 32),
            10,
            "CIFAR-10 32x32 RGB (50,000 / 10,000); downloads when online",
            layout="<root>/cifar-10-batches-py/",
        ),
    ]
