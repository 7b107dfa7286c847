"""Feature-extraction throughput of each extractor, and a first vs a cached second evaluation.

    GENBENCH_DATA=../shared/data OMP_NUM_THREADS=1 .venv/bin/python benchmarks/metrics_throughput.py

Prints images/s for the offline classifiers (digits always; MNIST and Fashion-MNIST when their
files are there) and for Inception-v3 under both resize protocols. Without the standard
Inception weights file, Inception runs on random weights of the same architecture, which cost
the same time; the output says which. Then it times clf-fd twice on the same dataset with one
cache folder: the second evaluation loads the reference statistics instead of recomputing them.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import torch

from genbench.api.dataset import ImageData
from genbench.api.metric import EvalContext
from genbench.api.model import GenerativeModel
from genbench.data import load_dataset
from genbench.engine.build import build_metric
from genbench.errors import GenbenchError
from genbench.metrics import inception
from genbench.metrics.extractors.classifier import ClassifierExtractor
from genbench.metrics.extractors.features import FeatureExtractor
from genbench.metrics.extractors.files import sha256_file
from genbench.plugins import get_plugins


def throughput(extractor: FeatureExtractor, x: torch.Tensor, device: torch.device) -> float:
    """Images per second of ``extractor.extract`` on ``x``, after a warm-up at the same batch size."""
    extractor.extract(x[: extractor.batch_size], device)  # weights to device, kernels chosen for this shape
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    extractor.extract(x, device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return len(x) / (time.perf_counter() - t0)


def random_inception_file(folder: Path) -> Path:
    """A state dict of torch-fidelity's Inception-v3 with random weights (same cost as the real one)."""
    import torch_fidelity.feature_extractor_inceptionv3 as tfi

    torch.manual_seed(0)
    with (
        mock.patch.object(tfi, "load_state_dict_from_url", return_value={}),
        mock.patch.object(tfi.FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd: None),
    ):
        net = tfi.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    path = folder / "random-inception.pth"
    torch.save(net.state_dict(), path)
    return path


class Replay(GenerativeModel):
    """Plays back real training images as 'samples' (stands in for a trained model)."""

    capabilities = frozenset({"sample"})

    def __init__(self, data: ImageData) -> None:
        super().__init__(None, data.info)
        self.x = ImageData.to_float(data.train_x)

    def sample(self, n, *, labels=None, generator=None):  # type: ignore[no-untyped-def]
        return self.x[torch.randperm(len(self.x), generator=generator)[:n]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--classifier-images", type=int, default=5000)
    parser.add_argument("--inception-images", type=int, default=16)
    parser.add_argument("--fd-samples", type=int, default=5000)
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads())))
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} CPU threads")

    datasets = {"digits": load_dataset("digits")}
    for name in ("mnist", "fashion-mnist"):
        try:
            datasets[name] = load_dataset(name)
        except GenbenchError as exc:
            print(f"skipping {name}: {exc}", file=sys.stderr)

    print("\nfeature extraction throughput")
    for name, data in datasets.items():
        x = ImageData.to_float(data.test_x)
        x = x.repeat((args.classifier_images + len(x) - 1) // len(x), 1, 1, 1)[: args.classifier_images]
        extractor = ClassifierExtractor(name)
        rate = throughput(extractor, x, device)
        print(f"  {extractor.name:<45} {tuple(x.shape[1:])!s:<16} {rate:9.1f} images/s")

    with tempfile.TemporaryDirectory() as tmp:
        try:
            path, sha = inception.inception_weights()
            label = "standard weights"
        except GenbenchError:
            path = random_inception_file(Path(tmp))
            sha, label = sha256_file(path), "RANDOM weights, same architecture and cost"
        x = ImageData.to_float(datasets["digits"].test_x[: args.inception_images])
        for resize in inception.RESIZES:
            extractor = inception.InceptionExtractor(resize, path=path, sha256=sha)
            rate = throughput(extractor, x, device)
            print(f"  {extractor.name + ' ' + resize:<45} {'(1, 8, 8)->299':<16} {rate:9.1f} images/s  ({label})")

    name = "mnist" if "mnist" in datasets else "digits"
    data = datasets[name]
    metric = build_metric(get_plugins().metrics.get("clf-fd"))
    print(f"\nclf-fd on {name}: {args.fd_samples} samples vs the {len(data.test_y)}-image test split")
    with tempfile.TemporaryDirectory() as cache:
        # Both runs draw and extract new samples; only the first extracts the reference split.
        for run in ("first (computes reference stats)", "second (cached reference stats)"):
            ctx = EvalContext(Replay(data), data, args.fd_samples, device, seed=1, cache_dir=Path(cache))
            t0 = time.perf_counter()
            value = metric.compute(ctx)
            print(f"  {run:<34} {time.perf_counter() - t0:7.3f} s   clf-fd = {value.value:.4f}")


if __name__ == "__main__":
    main()
