"""The offline feature extractor for small grayscale images: a small CNN genbench trains and ships.

Inception-v3 needs a 100 MB download and was trained on ImageNet photographs; for 8x8 and
28x28 digits and clothes a classifier trained on the dataset itself is the usual, offline
substitute. ``scripts/train_extractor.py`` trains one per dataset with :func:`train_classifier`
and writes ``genbench/metrics/extractors/weights/clf-<dataset>.pt``; the sha256 of each file is pinned
in :data:`CLASSIFIER_SHA256` and checked before the file is loaded.

Metrics on it are named ``clf-*`` (never "FID"): their values do not compare with Inception
metrics or with numbers computed with another classifier.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from genbench.api.dataset import ImageData
from genbench.errors import GenbenchError
from genbench.metrics.extractors.features import FeatureExtractor
from genbench.metrics.extractors.files import verify_sha256

WEIGHTS_DIR = Path(__file__).parent / "weights"

# sha256 of the committed weights files, as printed by scripts/train_extractor.py (trained with
# torch 2.11.0 on 5 CPU threads; test accuracy digits 0.9917, mnist 0.9950, fashion-mnist 0.9261).
CLASSIFIER_SHA256: dict[str, str] = {
    "digits": "abbba75736050f462d191c00591fe9588f0809fb4b695cef6fd67d139d3d59c7",
    "mnist": "5894b9d9f464bed1e3520394676e5ad0b01d421d31d5c7d500064c459a68b035",
    "fashion-mnist": "5a3276deec52075ba8f7ff5e55c464eab1efbe7f2e7d0ccc6c3118e9449273dd",
}


@dataclass
class ClassifierConfig:
    in_channels: int = 1
    image_size: int = 28  # square inputs; 8 for sklearn digits
    num_classes: int = 10
    width: int = 16  # channels of the first conv; later blocks double it
    feature_dim: int = 128  # size of the penultimate layer: the features clf-fd compares
    dropout: float = 0.3


def _conv(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


class SmallClassifier(nn.Module):
    """conv-pool ×3 then two linear layers; ~110k parameters at 28x28.

    Three 2x max-pools take 28 -> 14 -> 7 -> 3 and 8 -> 4 -> 2 -> 1, so the same network fits
    both sizes; the flattened map keeps the spatial layout that clothes need.
    """

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        self.config = config
        w = config.width
        self.body = nn.Sequential(
            _conv(config.in_channels, w),
            nn.MaxPool2d(2),  # (B, w, S/2, S/2)
            _conv(w, 2 * w),
            _conv(2 * w, 2 * w),
            nn.MaxPool2d(2),  # (B, 2w, S/4, S/4)
            _conv(2 * w, 4 * w),
            nn.MaxPool2d(2),  # (B, 4w, S/8, S/8)
            nn.Flatten(),
        )
        side = config.image_size // 8
        self.fc = nn.Linear(4 * w * side * side, config.feature_dim)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.feature_dim, config.num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, S, S) in [0, 1] -> (B, feature_dim) penultimate activations."""
        return F.relu(self.fc(self.body((x - 0.5) / 0.5)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, S, S) in [0, 1] -> (B, num_classes) logits."""
        return self.head(self.dropout(self.features(x)))


def weights_path(dataset: str) -> Path:
    return WEIGHTS_DIR / f"clf-{dataset}.pt"


def load_classifier(
    dataset: str, *, path: Path | None = None, sha256: str | None = None
) -> tuple[SmallClassifier, str]:
    """The shipped classifier for ``dataset`` in eval mode, and its weights' sha256.

    ``path``/``sha256`` default to the committed file and its pinned hash.
    """
    if dataset not in CLASSIFIER_SHA256 and sha256 is None:
        raise GenbenchError(
            f"no offline classifier is shipped for dataset '{dataset}' (there are: "
            f"{', '.join(sorted(CLASSIFIER_SHA256))}): use the Inception metrics, or train one with "
            f"scripts/train_extractor.py --dataset {dataset}"
        )
    path = path or weights_path(dataset)
    expected = sha256 or CLASSIFIER_SHA256[dataset]
    actual = verify_sha256(
        path,
        expected,
        f"classifier weights for '{dataset}'",
        "restore the file from the genbench repository (git checkout) or reinstall genbench",
    )
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        model = SmallClassifier(ClassifierConfig(**blob["config"]))
        model.load_state_dict({k: v.float() for k, v in blob["state_dict"].items()})
    except Exception as exc:
        raise GenbenchError(f"cannot load classifier weights {path}: {type(exc).__name__}: {exc}") from None
    return model.eval().requires_grad_(False), actual


class ClassifierExtractor(FeatureExtractor):
    """Penultimate features and logits of the shipped classifier for one dataset."""

    def __init__(self, dataset: str, *, path: Path | None = None, sha256: str | None = None) -> None:
        self.dataset = dataset
        self.model, self.weights_sha256 = load_classifier(dataset, path=path, sha256=sha256)
        self.name = f"genbench-clf-{dataset}"
        self.resize = "none"  # the classifier sees images at their native size
        c = self.model.config
        self.shape = (c.in_channels, c.image_size, c.image_size)

    def check_input(self, x: torch.Tensor, what: str) -> None:
        super().check_input(x, what)
        if tuple(x.shape[1:]) != self.shape:
            raise GenbenchError(
                f"{what}: the {self.dataset} classifier takes images of shape {self.shape}, got {tuple(x.shape[1:])}"
            )

    def extract_batch(self, x: torch.Tensor, device: torch.device) -> dict[str, torch.Tensor]:
        self.model.to(device)
        feats = self.model.features(x)
        return {"features": feats, "logits": self.model.head(feats)}


# -- training (used by scripts/train_extractor.py) ----------------------------------------


def classifier_config_for(data: ImageData) -> ClassifierConfig:
    c, h, w = data.info.shape
    if h != w:
        raise GenbenchError(f"the small classifier takes square images, '{data.name}' has {h}x{w}")
    return ClassifierConfig(in_channels=c, image_size=h, num_classes=data.num_classes)


@torch.no_grad()
def classifier_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """Top-1 accuracy of ``model`` on uint8 images ``x`` with labels ``y``."""
    model.eval()
    correct = 0
    for i in range(0, len(x), batch_size):
        logits = model(ImageData.to_float(x[i : i + batch_size]))
        correct += int((logits.argmax(1) == y[i : i + batch_size]).sum())
    return correct / len(x)


def _shift(x: torch.Tensor, generator: torch.Generator, max_shift: int) -> torch.Tensor:
    """Random translations by up to ``max_shift`` pixels (zero padding), one per image."""
    if max_shift == 0:
        return x
    b, _, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4)
    dx = torch.randint(0, 2 * max_shift + 1, (b,), generator=generator)
    dy = torch.randint(0, 2 * max_shift + 1, (b,), generator=generator)
    rows = (dy[:, None] + torch.arange(h)[None, :])[:, None, :, None]  # (B, 1, H, 1)
    cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, None, :]  # (B, 1, 1, W)
    batch = torch.arange(b)[:, None, None, None]
    chan = torch.arange(x.shape[1])[None, :, None, None]
    return padded[batch, chan, rows, cols]


def train_classifier(
    data: ImageData,
    *,
    epochs: int,
    batch_size: int = 128,
    lr: float = 3e-3,
    max_shift: int = 0,
    seed: int = 0,
    log: bool = True,
) -> tuple[SmallClassifier, float]:
    """Train the small classifier on ``data``'s train split; return it and its test accuracy.

    Deterministic on the CPU for a given torch version and thread count: fixed seed, fixed
    shuffling generator, deterministic algorithms. AdamW with a one-cycle learning rate.
    """
    torch.manual_seed(seed)
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        return _train(data, epochs=epochs, batch_size=batch_size, lr=lr, max_shift=max_shift, seed=seed, log=log)
    finally:
        torch.use_deterministic_algorithms(was_deterministic)


def _train(
    data: ImageData, *, epochs: int, batch_size: int, lr: float, max_shift: int, seed: int, log: bool
) -> tuple[SmallClassifier, float]:
    gen = torch.Generator().manual_seed(seed)
    model = SmallClassifier(classifier_config_for(data))
    steps_per_epoch = math.ceil(len(data.train_y) / batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch)
    t0 = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(data.train_y), generator=gen)
        total = 0.0
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            x = _shift(ImageData.to_float(data.train_x[idx]), gen, max_shift)
            loss = F.cross_entropy(model(x), data.train_y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        if log:
            acc = classifier_accuracy(model, data.test_x, data.test_y)
            print(
                f"epoch {epoch + 1}/{epochs}  loss {total / len(order):.4f}  test acc {acc:.4f}  "
                f"({time.perf_counter() - t0:.0f}s)",
                flush=True,
            )
    model.eval()
    return model, classifier_accuracy(model, data.test_x, data.test_y)


def save_classifier(model: SmallClassifier, path: Path, *, dataset: str, test_accuracy: float) -> None:
    """Write the weights file: the config, fp32 state dict and the accuracy measured at training."""
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {
        "config": dataclasses.asdict(model.config),
        "state_dict": {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()},
        "dataset": dataset,
        "test_accuracy": test_accuracy,
    }
    torch.save(blob, path)
