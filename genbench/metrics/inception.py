"""FID, KID and Inception Score as papers report them, and clean-fid's "clean" protocol.

The network is torch-fidelity's port of the TensorFlow ``inception-2015-12-05`` graph that the
FID paper used (loaded through torchmetrics' ``NoTrainInceptionV3``, a subclass of it) from
torch-fidelity's weights file :data:`INCEPTION_FILE`. The file comes from
``$GENBENCH_INCEPTION_WEIGHTS`` or from the torch hub cache (``torch.hub.get_dir()/checkpoints/``,
where torch-fidelity itself keeps it); when it is not in the cache it is downloaded there on
first use from :data:`INCEPTION_URL` (atomically, verified before it is kept:
:mod:`genbench.metrics.extractors.fetch`; ``$GENBENCH_OFFLINE=1`` forbids it), and its full
sha256 must be :data:`INCEPTION_SHA256` (``$GENBENCH_INCEPTION_SHA256`` may name another
full sha256; the hash in use goes into every fingerprint). A value computed with weights
other than the standard ones is stored as ``fid@<first 8 hex digits of their sha256>`` (and
likewise for every Inception metric), so it never sits under the name ``fid`` in a table.

How images are prepared (recorded as ``resize`` in the fingerprint):

1. float [0, 1] -> 8-bit levels round(255 x) (genbench scores images holding k / 255);
2. one channel -> replicated to three (grayscale as RGB);
3. resize to 299x299:
   - ``tf1-bilinear``: TensorFlow 1.x's bilinear resize (no antialiasing, half-pixel
     offsets off), torch-fidelity's ``interpolate_bilinear_2d_like_tensorflow1x``: what the
     TF Inception graph of the FID paper did, and what pytorch-fid and torch-fidelity
     reproduce (metrics ``fid``, ``kid``, ``is``). torchmetrics' default antialiased resize
     differs from it by tens of grey levels from 32 to 299 px, so it is not offered;
   - ``clean``: clean-fid's "clean" mode, PIL bicubic on float32 per channel, clipped to
     [0, 255], done by clean-fid's own resizer (metric ``fid-clean``);
4. (x - 128) / 128, then the network: 2048-d pool features (FID, KID) and the bias-free
   "unbiased" logits torch-fidelity's Inception Score uses.

About ``fid-clean``: clean-fid's published statistics were computed with NVIDIA's TorchScript
conversion (``inception-2015-12-05.pt``) of the same TensorFlow graph. genbench's ``fid-clean``
runs clean-fid's protocol (its resize, normalisation, pool features, Fréchet distance) on
**torch-fidelity's conversion** (this module's weights file), so that one verified file serves
every Inception metric. The tests check the protocol against clean-fid's own code on the same
network; the two conversions' agreement is not checked (neither file is on these machines),
so a ``fid-clean`` value is clean-fid's FID only as far as the two conversions agree.
"""

from __future__ import annotations

import os
import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genbench.api.metric import EvalContext, Metric, MetricValue
from genbench.api.uncertainty import Interval
from genbench.errors import GenbenchError
from genbench.metrics.extractors.features import (
    FeatureExtractor,
    reference_features,
    reference_identity,
    sample_features,
)
from genbench.metrics.extractors.fetch import fetch
from genbench.metrics.extractors.files import verify_sha256
from genbench.metrics.extractors.stats import (
    fd_interval,
    frechet_distance,
    frechet_extrapolated,
    gaussian_stats,
    kernel_distance_se,
    kid_subset_size,
    require_count,
    score_interval,
    split_score,
)

INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{INCEPTION_FILE}"
# The full sha256 of torch-fidelity's file (its name holds the first 8 hex digits, torch hub style).
INCEPTION_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
ENV_WEIGHTS = "GENBENCH_INCEPTION_WEIGHTS"
ENV_SHA256 = "GENBENCH_INCEPTION_SHA256"
INPUT_SIZE = 299
RESIZES = ("tf1-bilinear", "clean")

# The layers of torch-fidelity's FeatureExtractorInceptionV3 up to the 2048-d pool, in order.
_TRUNK = (
    "Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "MaxPool_1", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
    "MaxPool_2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
    "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c", "AvgPool",
)  # fmt: skip


def inception_weights_path() -> Path:
    """Where the weights file is looked for: ``$GENBENCH_INCEPTION_WEIGHTS``, else the torch hub cache."""
    explicit = os.environ.get(ENV_WEIGHTS)
    if explicit:
        return Path(explicit).expanduser()
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE


def inception_weights(path: Path | None = None, sha256: str | None = None) -> tuple[Path, str]:
    """The verified weights file and its full sha256, or a one-line GenbenchError saying what to do."""
    path = path or inception_weights_path()
    expected = sha256 or os.environ.get(ENV_SHA256) or INCEPTION_SHA256
    if not re.fullmatch(r"[0-9a-fA-F]{64}", expected):
        raise GenbenchError(
            f"{ENV_SHA256}={expected!r} is not a full sha256 (64 hex digits): give the whole hash of the file"
        )
    fix = f"download {INCEPTION_URL} into {Path(torch.hub.get_dir()) / 'checkpoints'} or set {ENV_WEIGHTS} to its path"
    what = f"Inception weights {INCEPTION_FILE}"
    if not os.environ.get(ENV_WEIGHTS) and path == inception_weights_path() and not path.is_file():
        fetch(INCEPTION_URL, path, expected, what=what, fix=fix)  # first use: into the torch hub cache
    return path, verify_sha256(path, expected, what, fix)


_NETS: dict[tuple[str, str], torch.nn.Module] = {}  # loaded networks by (sha256, device)


def _load_network(path: Path, sha256: str, device: torch.device) -> torch.nn.Module:
    key = (sha256, str(device))
    if key not in _NETS:
        from torchmetrics.image.fid import NoTrainInceptionV3

        try:
            net = NoTrainInceptionV3(
                name="inception-v3-compat", features_list=["2048"], feature_extractor_weights_path=str(path)
            )
        except Exception as exc:
            raise GenbenchError(
                f"cannot load Inception weights {path}: {type(exc).__name__}: {str(exc).splitlines()[0]}"
            ) from None
        _NETS[key] = net.to(device)
    return _NETS[key]


def prepare_images(x: torch.Tensor, resize: str) -> torch.Tensor:
    """(N, 1|3, H, W) float [0, 1] -> (N, 3, 299, 299) float in [0, 255], as the module docstring says."""
    levels = torch.round(x.float() * 255)
    if levels.shape[1] == 1:
        levels = levels.expand(-1, 3, -1, -1)
    if resize == "tf1-bilinear":
        from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

        return interpolate_bilinear_2d_like_tensorflow1x(levels, size=(INPUT_SIZE, INPUT_SIZE), align_corners=False)
    if resize == "clean":
        from cleanfid.resize import build_resizer

        resizer = build_resizer("clean")  # numpy (H, W, 3) uint8 -> (299, 299, 3) float32
        images = levels.permute(0, 2, 3, 1).to(torch.uint8).cpu().numpy()
        out = np.stack([resizer(image) for image in images])
        return torch.from_numpy(out).permute(0, 3, 1, 2).to(x.device)
    raise GenbenchError(f"unknown Inception resize '{resize}' (choose from: {', '.join(RESIZES)})")


class InceptionExtractor(FeatureExtractor):
    """2048-d pool features and unbiased logits of Inception-v3 (TF 2015-12-05 weights)."""

    name = "inception-v3-tf-2015-12-05"
    batch_size = 64

    def __init__(self, resize: str = "tf1-bilinear", *, path: Path | None = None, sha256: str | None = None):
        if resize not in RESIZES:
            raise GenbenchError(f"unknown Inception resize '{resize}' (choose from: {', '.join(RESIZES)})")
        self.resize = resize
        self.path, self.weights_sha256 = inception_weights(path, sha256)

    def cache_identity(self) -> dict[str, str]:
        """Adds the versions of the code that resizes and runs the network."""
        libs = ("torchmetrics", "torch-fidelity") + (("clean-fid", "pillow") if self.resize == "clean" else ())
        return {**super().cache_identity(), **{lib: _version(lib) for lib in libs}}

    def check_input(self, x: torch.Tensor, what: str) -> None:
        super().check_input(x, what)
        if x.shape[1] not in (1, 3):
            raise GenbenchError(f"{what}: Inception takes 1- or 3-channel images, got {x.shape[1]} channels")

    def extract_batch(self, x: torch.Tensor, device: torch.device) -> dict[str, torch.Tensor]:
        net = _load_network(self.path, self.weights_sha256, device)
        h = (prepare_images(x, self.resize) - 128) / 128  # (B, 3, 299, 299), the TF graph's normalisation
        for name in _TRUNK:
            h = getattr(net, name)(h)
        pool = torch.flatten(h, 1)  # (B, 2048)
        # "logits_unbiased": the classifier without its bias, as torch-fidelity and torchmetrics' IS use.
        logits = pool.mm(net.fc.weight.T)  # (B, 1008)
        return {"features": pool, "logits": logits}


def _version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


def stored_name(name: str, weights_sha256: str) -> str:
    """The name a value is stored under: ``name``, or ``name@<sha8>`` when the weights are not the standard ones."""
    return name if weights_sha256 == INCEPTION_SHA256 else f"{name}@{weights_sha256[:8]}"


class _InceptionMetric(Metric):
    reads = frozenset({"num_samples", "batch_size", "seed"})  # the samples: how many, drawn how
    resize = "tf1-bilinear"

    def check(self, data_name: str, shape: tuple[int, int, int]) -> None:
        if shape[0] not in (1, 3):
            raise GenbenchError(
                f"{self.spec.name}: Inception takes 1- or 3-channel images, '{data_name}' has {shape[0]}"
            )
        inception_weights()

    def extractor(self) -> InceptionExtractor:
        return InceptionExtractor(self.resize)

    def sample_extractors(self, ctx: EvalContext) -> list[FeatureExtractor]:
        return [self.extractor()]

    def fingerprint(self, ctx: EvalContext, extractor: InceptionExtractor, **extra: Any) -> dict[str, Any]:
        return {**self.base_fingerprint(ctx), **extractor.identity(), **extra}

    def value(
        self,
        value: float,
        ctx: EvalContext,
        extractor: InceptionExtractor,
        interval: Interval | None = None,
        **extra: Any,
    ) -> MetricValue:
        """The MetricValue, under a name that shows when the weights are not the standard ones."""
        name = stored_name(self.spec.name, extractor.weights_sha256)
        return MetricValue(value, self.fingerprint(ctx, extractor, **extra), name=name, interval=interval)


class FID(_InceptionMetric):
    """Fréchet Inception Distance between samples and the benchmark's reference images (lower is better)."""

    version = 2  # v2: TF1 bilinear resize (v1 resized with torchmetrics' antialiased bilinear)

    def compute(self, ctx: EvalContext) -> MetricValue:
        require_count(ctx.num_samples, 2, self.spec.name)
        extractor = self.extractor()
        fake = sample_features(extractor, ctx.samples(), ctx.device)["features"]
        real = reference_features(extractor, ctx)
        mu, sigma = gaussian_stats(fake)
        value = frechet_distance(mu, sigma, real["mu"], real["sigma"])
        interval = fd_interval(value, fake, real["features"], seed=ctx.seed, device=ctx.device)
        return self.value(value, ctx, extractor, interval, **reference_identity(ctx))


class FIDInf(_InceptionMetric):
    """FID extrapolated to infinitely many samples, Chong & Forsyth 2020 (lower is better)."""

    version = 1

    def compute(self, ctx: EvalContext) -> MetricValue:
        require_count(ctx.num_samples, 20, self.spec.name)
        extractor = self.extractor()
        fake = sample_features(extractor, ctx.samples(), ctx.device)["features"]
        real = reference_features(extractor, ctx)["features"]
        value, interval, sizes, _ = frechet_extrapolated(fake, real, seed=ctx.seed)
        sized = [int(n) for n in sizes]
        return self.value(value, ctx, extractor, interval, **reference_identity(ctx), fd_inf_sizes=sized)


class FIDClean(FID):
    """FID under clean-fid's "clean" protocol (PIL bicubic resize) on torch-fidelity's Inception, lower is better."""

    version = 1  # the clean protocol is unchanged since v1
    resize = "clean"


class KID(_InceptionMetric):
    """Kernel Inception Distance: polynomial-kernel MMD² over 100 subsets (lower is better)."""

    version = 2  # v2: TF1 bilinear resize, torch-fidelity's subset draws
    subsets = 100

    def compute(self, ctx: EvalContext) -> MetricValue:
        require_count(ctx.num_samples, 2, self.spec.name)
        extractor = self.extractor()
        fake = sample_features(extractor, ctx.samples(), ctx.device)["features"]
        real = reference_features(extractor, ctx)["features"]
        size = kid_subset_size(len(real), len(fake))
        # torch-fidelity's order (its input1 = samples, input2 = reference): the same draws for the same seed.
        value, se = kernel_distance_se(fake, real, subsets=self.subsets, subset_size=size, seed=ctx.seed)
        # The samples' first-order standard error (stats.kernel_distance_se): a normal 95% interval.
        interval = Interval(value - 1.959964 * se, value + 1.959964 * se, "hoeffding-se")
        return self.value(
            value, ctx, extractor, interval, **reference_identity(ctx), kid_subsets=self.subsets, kid_subset_size=size
        )


class InceptionScore(_InceptionMetric):
    """Inception Score of the samples, mean over 10 splits (higher is better)."""

    version = 2  # v2: TF1 bilinear resize, torch-fidelity's splits
    splits = 10

    def compute(self, ctx: EvalContext) -> MetricValue:
        require_count(ctx.num_samples, self.splits, self.spec.name)
        extractor = self.extractor()
        logits = sample_features(extractor, ctx.samples(), ctx.device)["logits"]
        value = split_score(logits, splits=self.splits, seed=ctx.seed)
        interval = score_interval(logits, splits=self.splits, seed=ctx.seed)
        return self.value(value, ctx, extractor, interval, is_splits=self.splits)
