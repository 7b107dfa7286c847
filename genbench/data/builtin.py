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
        # Two-domain datasets for translation (genbench/data/pairs.py): A -> train_x..., B -> train_b_x...
        DatasetSpec(
            "digits2color",
            "genbench.data.pairs:load_digits2color",
            (3, 8, 8),
            10,
            "unpaired 8x8 digits (A) <-> recoloured digits (B), disjoint train halves 718/719, "
            "360 paired test images; no files needed",
            needs_files=False,
            domains=("digits", "recoloured digits"),
            paired_test=True,
        ),
        DatasetSpec(
            "mnist2color",
            "genbench.data.pairs:load_mnist2color",
            (3, 28, 28),
            10,
            "unpaired MNIST (A) <-> recoloured MNIST (B), disjoint train halves 30,000/30,000, "
            "10,000 paired test images",
            layout="<root>/MNIST/raw/*-ubyte.gz",
            domains=("mnist", "recoloured mnist"),
            paired_test=True,
        ),
        *[
            DatasetSpec(
                name,
                f"genbench.data.pairs:load_{name}",
                (3, 128, 128),
                1,
                f"CycleGAN's unpaired {name} (reference layout, resized to 128x128); downloads when online",
                layout=f"<root>/{name}/{{trainA,trainB,testA,testB}}/*.jpg",
                domains=tuple(name.split("2", 1)),
            )
            for name in ("horse2zebra", "monet2photo", "apple2orange", "summer2winter_yosemite")
        ],
    ]
