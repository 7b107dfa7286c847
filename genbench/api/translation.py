"""The translation evaluation context: what metrics of the ``translate`` capability read.

Built once per evaluation from the :class:`genbench.api.metric.EvalContext` and shared by
every translation metric, so the model translates each test image once per direction: the
first ``num_samples`` test images of the source domain are translated (``a2b``: domain A's,
``b2a``: domain B's) and translated back for the cycle. Outputs are quantised to 8 bits,
as a user would save them.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import torch

from genbench.api.dataset import ImageData
from genbench.api.metric import EvalContext, check_images
from genbench.errors import GenbenchError

DIRECTIONS = ("a2b", "b2a")


def check_direction(direction: str) -> str:
    """``direction`` when it is ``"a2b"`` or ``"b2a"``; ValueError otherwise."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'a2b' or 'b2a', got {direction!r}")
    return direction


def reverse(direction: str) -> str:
    return "b2a" if check_direction(direction) == "a2b" else "a2b"


def source_domain(direction: str) -> str:
    """``"a"`` for a2b, ``"b"`` for b2a."""
    return check_direction(direction)[0]


def target_domain(direction: str) -> str:
    return check_direction(direction)[-1]


@dataclass
class TranslationContext:
    """Translations of the test split in both directions, made once and shared by the metrics."""

    ctx: EvalContext
    _out: dict[tuple[str, str], torch.Tensor] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self.ctx.data.has_domain_b:
            raise GenbenchError(f"dataset '{self.ctx.data.name}' has one domain: translation metrics need two")

    @property
    def data(self) -> ImageData:
        return self.ctx.data

    def test_split(self, domain: str) -> tuple[torch.Tensor, torch.Tensor]:
        """The whole test split of domain ``"a"`` or ``"b"``: uint8 images and labels."""
        if domain == "a":
            return self.data.test_x, self.data.test_y
        _, _, test_b_x, test_b_y = self.data.splits_b
        return test_b_x, test_b_y

    def count(self, direction: str) -> int:
        """How many source images are translated: the protocol's count, at most the test split."""
        return min(self.ctx.num_samples, len(self.test_split(source_domain(direction))[0]))

    def source(self, direction: str) -> tuple[torch.Tensor, torch.Tensor]:
        """The source images (float [0, 1]) and their labels."""
        x, y = self.test_split(source_domain(direction))
        n = self.count(direction)
        return ImageData.to_float(x[:n]), y[:n]

    def counterparts(self, direction: str) -> torch.Tensor:
        """The known target-domain counterparts of the source images (paired test splits only)."""
        if not self.data.paired_test:
            raise GenbenchError(f"dataset '{self.data.name}' has no known counterparts for its test images")
        x, _ = self.test_split(target_domain(direction))
        return ImageData.to_float(x[: self.count(direction)])

    def target_reference(self, direction: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Every real test image of the target domain (float [0, 1]) and its labels."""
        x, y = self.test_split(target_domain(direction))
        return ImageData.to_float(x), y

    @torch.no_grad()
    def _translate(self, x: torch.Tensor, direction: str) -> torch.Tensor:
        model = self.ctx.model
        model.eval()
        chunks = []
        for i in range(0, len(x), self.ctx.batch_size):
            out = model.translate(x[i : i + self.ctx.batch_size].to(self.ctx.device), direction)
            chunks.append(out.float().cpu())
        y = torch.cat(chunks)
        check_images(y, f"{direction} translations of model '{type(model).__name__}'", self.data.info.shape)
        return torch.round(y * 255) / 255

    def translated(self, direction: str) -> torch.Tensor:
        """(n, C, H, W) translations of the source images into the target domain."""
        key = (direction, "translated")
        if key not in self._out:
            self._out[key] = self._translate(self.source(direction)[0], direction)
        return self._out[key]

    def cycled(self, direction: str) -> torch.Tensor:
        """The translations translated back: F(G(a)) for a2b, G(F(b)) for b2a."""
        key = (direction, "cycled")
        if key not in self._out:
            self._out[key] = self._translate(self.translated(direction), reverse(direction))
        return self._out[key]


_CONTEXTS: dict[int, tuple[weakref.ref[EvalContext], TranslationContext]] = {}


def translation_context(ctx: EvalContext) -> TranslationContext:
    """The translation context of one evaluation, made on first use and kept while ``ctx`` lives."""
    entry = _CONTEXTS.get(id(ctx))
    if entry is None or entry[0]() is not ctx:
        key = id(ctx)
        entry = (weakref.ref(ctx, lambda _: _CONTEXTS.pop(key, None)), TranslationContext(ctx))
        _CONTEXTS[key] = entry
    return entry[1]
