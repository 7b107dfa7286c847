"""The metric contract and the evaluation context metrics read from."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from genbench.api.dataset import ImageData
from genbench.api.model import GenerativeModel
from genbench.api.uncertainty import Interval
from genbench.config import config_hash
from genbench.errors import GenbenchError
from genbench.specs import MetricSpec


def fingerprint_hash(fingerprint: dict[str, Any]) -> str:
    """A short stable hash of a fingerprint: values with different hashes are never ranked together.

    The ``observed`` key, if any, is left out: it holds what a measurement saw along the way (the
    NLL's noise check) rather than what was measured, and must not split a leaderboard.
    """
    return config_hash({k: v for k, v in fingerprint.items() if k != "observed"})


@dataclass
class MetricValue:
    value: float
    fingerprint: dict[str, Any]  # what exactly was measured: extractor, weights hash, counts, resize
    name: str | None = None  # the name to store it under when not the metric's own (e.g. "fid@1a2b3c4d")
    # Evaluation settings this value depends on beyond the model's (e.g. {"labels": "100"}): shown
    # beside the model name in leaderboards, like a sampler's settings.
    settings: dict[str, Any] = field(default_factory=dict)
    # Its 95% evaluation interval, from the data the metric read (genbench.api.uncertainty):
    # a t-interval for a mean over images, a seeded bootstrap for a set statistic. None: no interval.
    interval: Interval | None = None


@dataclass
class Score:
    """One metric's value for one run, as it is stored and as lifecycle hooks receive it."""

    name: str
    value: float
    direction: str
    unit: str
    fingerprint: dict[str, Any]
    fingerprint_hash: str
    settings: dict[str, Any]
    seconds: float  # wall seconds computing it (work shared with a metric computed before it is not counted again)
    interval: Interval | None = None  # the value's 95% evaluation interval, when the metric gives one
    # Network evaluations computing it (genbench.api.cost: examples through the model's networks);
    # None: not counted (values scored from files, rows stored before genbench counted them).
    evaluations: int | None = None


class SampleExtractor(Protocol):
    """What evaluation needs of a metric's feature extractor (the base class that metrics subclass
    is :class:`genbench.metrics.extractors.features.FeatureExtractor`)."""

    def identity(self) -> dict[str, str]:
        """The fingerprint fields that say which extractor measured a value."""
        ...

    def extract(self, x: torch.Tensor, device: torch.device, what: str = "images") -> dict[str, torch.Tensor]:
        """Features of all images, computed in batches on ``device`` and returned on the CPU."""
        ...


def check_images(x: torch.Tensor, what: str, shape: tuple[int, ...] | None = None) -> None:
    """Refuse images a metric cannot score: wrong rank/shape, NaN, or outside [0, 1]."""
    if x.dim() != 4:
        raise GenbenchError(f"{what}: expected NCHW images, got shape {tuple(x.shape)}")
    if shape is not None and tuple(x.shape[1:]) != tuple(shape):
        raise GenbenchError(f"{what}: expected images of shape {tuple(shape)}, got {tuple(x.shape[1:])}")
    if not torch.isfinite(x).all():
        raise GenbenchError(f"{what}: images contain NaN or inf values")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0.0 or hi > 1.0:
        raise GenbenchError(f"{what}: images must lie in [0, 1], got values in [{lo:.3g}, {hi:.3g}]")


@dataclass
class EvalContext:
    """What a metric sees: the model, the dataset and the evaluation protocol.

    Generated samples are made once per evaluation and shared by every metric, from a
    fixed seed, so two metrics of one run score the same images.
    """

    model: GenerativeModel
    data: ImageData
    num_samples: int
    device: torch.device
    seed: int = 0
    batch_size: int = 500
    cache_dir: Path = Path("results/cache")
    reference_split: str = "test"  # the real images sample metrics compare with (the benchmark declares it)
    reference_count: int = 0  # the first this many images of that split; 0 = all of it
    test_count: int = 0  # test images a likelihood is computed on; 0 = the whole test set
    # At most this many labelled and test images for a linear probe (the smoke budget's); 0 = all.
    probe_count: int = 0
    recon_count: int = 0  # the first this many test images recon-mse and psnr reconstruct; 0 = all
    # Uniform-noise images of the NLL's Gibbs check; 0 = its standard count. Only the cost estimate
    # (genbench.suite.estimate) scales it down: a value measured with another count is never stored.
    noise_images: int = 0
    _samples: torch.Tensor | None = field(default=None, repr=False)
    _cond: tuple[torch.Tensor, torch.Tensor] | None = field(default=None, repr=False)
    # Called as progress(task, done, total) by long steps (sampling, feature extraction, NLL);
    # the CLI shows a bar per task. None: nobody is watching.
    progress: Callable[[str, int, int], None] | None = field(default=None, repr=False)

    def report(self, task: str, done: int, total: int) -> None:
        """Say how far a long step is: ``done`` of ``total`` images (or samples, or batches)."""
        if self.progress is not None:
            self.progress(task, done, total)

    def generator(self, offset: int = 0) -> torch.Generator:
        """A CPU generator: a seed gives the same samples on every device (models draw their noise
        with ``genbench.api.randn_tensor``, which draws on the generator's device and moves it)."""
        return torch.Generator("cpu").manual_seed(self.seed + offset)

    def chunk_generator(self, offset: int, chunk: int) -> torch.Generator:
        """The generator of the ``chunk``-th batch of samples. Each batch has its own, so any process
        can draw any batch (torchrun ranks share the sampling) and get what one process draws."""
        if chunk == 0:
            return self.generator(offset)
        return torch.Generator("cpu").manual_seed(((self.seed + offset) * 1_000_003 + chunk) % (1 << 63))

    @torch.no_grad()
    def sample_chunks(
        self, labels: torch.Tensor | None, offset: int, part: int = 0, parts: int = 1
    ) -> list[torch.Tensor]:
        """Batches ``part``, ``part + parts``, ... of the samples, as float (n, C, H, W) on the CPU."""
        task = "sampling" if labels is None else "sampling (conditional)"
        starts = list(range(0, self.num_samples, self.batch_size))[part::parts]
        sizes = [min(self.batch_size, self.num_samples - i) for i in starts]
        if parts > 1:
            task += f", process {part + 1} of {parts}"
        chunks: list[torch.Tensor] = []
        self.report(task, 0, sum(sizes))
        for i, n in zip(starts, sizes):
            lab = None if labels is None else labels[i : i + n].to(self.device)
            generator = self.chunk_generator(offset, i // self.batch_size)
            chunks.append(self.model.sample(n, labels=lab, generator=generator).float().cpu())
            self.report(task, sum(sizes[: len(chunks)]), sum(sizes))
        return chunks

    def finish_samples(self, chunks: list[torch.Tensor]) -> torch.Tensor:
        """The batches, in order, checked and rounded to 8 bits."""
        x = torch.cat(chunks)
        check_images(x, f"samples of model '{type(self.model).__name__}'", self.data.info.shape)
        # Score what a user would save: 8-bit images, like the reference set.
        return torch.round(x * 255) / 255

    def _generate(self, labels: torch.Tensor | None, offset: int) -> torch.Tensor:
        return self.finish_samples(self.sample_chunks(labels, offset))

    def conditional_labels(self) -> torch.Tensor:
        return torch.arange(self.num_samples) % self.data.num_classes

    def samples_are_conditional(self) -> bool:
        """Whether :meth:`samples` are the class-balanced conditional samples: a class-conditional model's are."""
        return "conditional" in self.model.capabilities

    def samples(self) -> torch.Tensor:
        """(num_samples, C, H, W) samples in [0, 1], what every sample metric scores.

        A class-conditional model's are its class-balanced conditional samples, the labels dropped:
        a draw from p(x) = sum_y p(y) p(x | y) with every class weighted equally (and stratified),
        the samples a class-conditional paper's FID scores. They are the ones cond-acc scores, so
        such a model is sampled once for every sample metric, not twice. The fingerprints do not
        say which: how a model draws from p(x) is the model's, and its values rank beside every
        other model's.
        """
        if self._samples is None:
            if self.samples_are_conditional():
                self._samples = self.conditional_samples()[0]
            else:
                self.model.eval()
                self._samples = self._generate(None, offset=0)
        return self._samples

    def conditional_samples(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Class-balanced conditional samples and the labels asked for."""
        if self._cond is None:
            self.model.eval()
            labels = self.conditional_labels()
            self._cond = (self._generate(labels, offset=1), labels)
        return self._cond

    def reference(self, split: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Real images of a split (default: the benchmark's reference images) as float [0, 1], with labels."""
        x, y = self.reference_uint8(split)
        return ImageData.to_float(x), y

    def reference_uint8(self, split: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The stored 8-bit images of a split (default: the reference split, cut to ``reference_count``)."""
        x, y = self.data.split(split or self.reference_split)
        if split is None and self.reference_count:
            if self.reference_count > len(x):
                raise GenbenchError(
                    f"the benchmark asks for {self.reference_count} reference images of "
                    f"{self.data.name}/{self.reference_split}, which has {len(x)}"
                )
            x, y = x[: self.reference_count], y[: self.reference_count]
        return x, y


_ACTIVE: ContextVar[EvalContext | None] = ContextVar("genbench_active_eval_context", default=None)


def report_progress(task: str, done: int, total: int) -> None:
    """Report progress to the evaluation in progress, if any (for helpers that get no context)."""
    ctx = _ACTIVE.get()
    if ctx is not None:
        ctx.report(task, done, total)


class Metric:
    """Base class of metrics. ``spec`` is set from the registration when the metric is built."""

    spec: MetricSpec
    version: int = 1  # bump when the computation changes: old values stop ranking with new
    needs_ood: bool = False  # reads the benchmark's out-of-distribution set (genbench.api.anomaly)
    # The ``eval.*`` settings (genbench.config.EvalConfig fields) its value depends on: a re-evaluation
    # that changes only others (`genbench eval RUN --set eval.labels=100`) leaves this value standing
    # and does not recompute it. None: every setting (the safe default for a metric that does not say).
    reads: frozenset[str] | None = None

    def __init__(self, spec: MetricSpec) -> None:
        self.spec = spec

    def check(self, data_name: str, shape: tuple[int, int, int]) -> None:
        """Raise GenbenchError before training if this metric cannot run on that dataset here
        (missing weights file, no extractor for the dataset). Default: always runs."""

    def compute(self, ctx: EvalContext) -> MetricValue:
        raise NotImplementedError

    def sample_extractors(self, ctx: EvalContext) -> Sequence[SampleExtractor]:
        """The feature extractors :meth:`compute` runs on the samples (through ``sample_features``).
        Under torchrun each process then extracts the features of the samples it drew, and rank 0
        gathers them instead of extracting all of them itself. Default: none."""
        return []

    def base_fingerprint(self, ctx: EvalContext) -> dict[str, Any]:
        return {"metric": self.spec.name, "version": self.version, "num_samples": ctx.num_samples}
