"""Feature extractors and the caches around them.

An extractor maps float [0, 1] NCHW images to named features (``"features"``: (N, D) for
distances, ``"logits"``: (N, K) for scores). Two caches keep evaluation cheap:

- the features of one evaluation's samples are remembered while that samples tensor lives,
  so FID, KID and IS of one run push the samples through Inception once;
- the reference images' features and their mean/covariance are stored on disk under
  ``ctx.cache_dir/reference/`` keyed by a hash of everything that determines them: the
  extractor, its weights hash and resize (:meth:`FeatureExtractor.identity`), the versions of
  the code that computes them and the dtype (:meth:`FeatureExtractor.cache_identity`), and
  the dataset, split, count and the images' own hash. A second evaluation loads them instead
  of recomputing, after recomputing the first few images' features and comparing: a cache
  that disagrees (any change the key missed) is thrown away and rebuilt.
"""

from __future__ import annotations

import hashlib
import os
import weakref
from pathlib import Path
from typing import Any

import torch
import torchvision

from genbench.api.metric import EvalContext, SampleExtractor, check_images, fingerprint_hash, report_progress
from genbench.metrics.extractors.stats import gaussian_stats

CACHE_VERSION = 2  # bump when the cached file's layout or the features' computation changes
SPOT_CHECK = 4  # reference images recomputed to validate a cache file


class FeatureExtractor:
    """Base class: subclasses set the identity fields and implement :meth:`extract_batch`."""

    name: str  # e.g. "inception-v3-tf-2015-12-05" or "genbench-clf-mnist"
    weights_sha256: str
    resize: str  # how images are brought to the network's input size ("none" when they are not)
    batch_size: int = 256

    def identity(self) -> dict[str, str]:
        """The fingerprint fields that say which extractor measured a value."""
        return {"extractor": self.name, "weights_sha256": self.weights_sha256, "resize": self.resize}

    def cache_identity(self) -> dict[str, str]:
        """What else changes the features without changing what they mean: code versions and dtype.

        Part of the reference cache's key, not of the fingerprint (values computed under two
        torch versions still rank together). Subclasses add the libraries they call.
        """
        return {"torch": str(torch.__version__), "torchvision": str(torchvision.__version__), "dtype": "float32"}

    def check_input(self, x: torch.Tensor, what: str) -> None:
        """Refuse images this extractor cannot score (after :func:`check_images`)."""
        check_images(x, what)

    def extract_batch(self, x: torch.Tensor, device: torch.device) -> dict[str, torch.Tensor]:
        """Features of one batch of float [0, 1] images (already on ``device``)."""
        raise NotImplementedError

    @torch.no_grad()
    def extract(self, x: torch.Tensor, device: torch.device, what: str = "images") -> dict[str, torch.Tensor]:
        """Features of all images, computed in batches on ``device`` and returned on the CPU."""
        self.check_input(x, what)
        parts: dict[str, list[torch.Tensor]] = {}
        report_progress(f"{self.name} features of {what}", 0, len(x))
        for i in range(0, len(x), self.batch_size):
            out = self.extract_batch(x[i : i + self.batch_size].to(device), device)
            for key, value in out.items():
                parts.setdefault(key, []).append(value.float().cpu())
            report_progress(f"{self.name} features of {what}", min(i + self.batch_size, len(x)), len(x))
        return {key: torch.cat(values) for key, values in parts.items()}


# -- features of samples, remembered while the samples tensor lives ---------------------

_SAMPLE_FEATURES: dict[int, tuple[weakref.ref[torch.Tensor], dict[str, dict[str, torch.Tensor]]]] = {}


def _forget(key: int) -> None:
    _SAMPLE_FEATURES.pop(key, None)


def _remembered(x: torch.Tensor) -> dict[str, dict[str, torch.Tensor]]:
    """The features remembered for the samples tensor ``x``, by extractor (forgotten with ``x``)."""
    entry = _SAMPLE_FEATURES.get(id(x))
    if entry is None or entry[0]() is not x:
        entry = (weakref.ref(x, lambda _, k=id(x): _forget(k)), {})
        _SAMPLE_FEATURES[id(x)] = entry
    return entry[1]


def sample_features(
    extractor: FeatureExtractor, x: torch.Tensor, device: torch.device, what: str = "samples"
) -> dict[str, torch.Tensor]:
    """``extractor.extract(x)``, computed once per (samples tensor, extractor)."""
    remembered = _remembered(x)
    key = fingerprint_hash(extractor.identity())
    if key not in remembered:
        remembered[key] = extractor.extract(x, device, what)
    return remembered[key]


def remember_features(extractor: SampleExtractor, x: torch.Tensor, features: dict[str, torch.Tensor]) -> None:
    """Hand :func:`sample_features` the features of ``x`` computed elsewhere: under torchrun each
    process extracts those of the samples it drew (:meth:`genbench.engine.distributed.Torchrun.share_sampling`)."""
    _remembered(x)[fingerprint_hash(extractor.identity())] = features


# -- reference statistics, cached on disk -------------------------------------------------


def images_sha256(x: torch.Tensor) -> str:
    """A short hash of an image tensor's bytes: the reference set's identity."""
    return hashlib.sha256(x.contiguous().numpy().tobytes()).hexdigest()[:16]


def reference_identity(ctx: EvalContext) -> dict[str, Any]:
    """The fingerprint fields naming the reference images: dataset/split, count and hash."""
    x, _ = ctx.reference_uint8()
    return {
        "reference": f"{ctx.data.name}/{ctx.reference_split}",
        "reference_count": len(x),
        "reference_sha256": images_sha256(x),
    }


def _agrees(cached: torch.Tensor, fresh: torch.Tensor) -> bool:
    """Whether recomputed features match cached ones up to float32 noise across machines/threads."""
    scale = float(fresh.abs().max()) or 1.0
    return cached.shape == fresh.shape and bool(((cached - fresh).abs() <= 1e-3 * scale).all())


def reference_features(extractor: FeatureExtractor, ctx: EvalContext) -> dict[str, torch.Tensor]:
    """Features of the reference images plus ``"mu"``/``"sigma"`` of their ``"features"``.

    Loaded from ``ctx.cache_dir`` when an evaluation already computed them under the same key
    (module docstring) and the first :data:`SPOT_CHECK` images' features, recomputed now, agree
    with the cached ones; otherwise computed and saved.
    """
    key = {
        "cache_version": CACHE_VERSION,
        **extractor.identity(),
        **extractor.cache_identity(),
        **reference_identity(ctx),
    }
    path = Path(ctx.cache_dir) / "reference" / f"{fingerprint_hash(key)}.pt"
    x, _ = ctx.reference()
    what = f"reference images {ctx.data.name}/{ctx.reference_split}"
    if path.is_file():
        try:
            stored = torch.load(path, map_location="cpu", weights_only=True)
            if stored.get("key") == key:
                tensors = stored["tensors"]
                # Said as what it is: a check of the cache on a few images, not the whole set.
                fresh = extractor.extract(x[:SPOT_CHECK], ctx.device, f"{what} (cache check, {len(x):,} cached)")
                if all(_agrees(tensors[name][:SPOT_CHECK], fresh[name]) for name in fresh):
                    return tensors
        except Exception:  # a damaged cache file is recomputed, never trusted
            pass
    tensors = extractor.extract(x, ctx.device, what)
    if "features" in tensors:
        tensors["mu"], tensors["sigma"] = gaussian_stats(tensors["features"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    torch.save({"key": key, "tensors": tensors}, tmp)
    tmp.replace(path)  # atomic: a killed evaluation never leaves half a cache file
    return tensors
