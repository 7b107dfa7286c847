"""The translation grid saved beside every run of a ``translate`` model."""

from __future__ import annotations

from pathlib import Path

import torch

from genbench.api.dataset import ImageData
from genbench.api.model import GenerativeModel
from genbench.report.images import grid_image


@torch.no_grad()
def save_translation_grid(
    model: GenerativeModel, data: ImageData, path: Path, *, device: torch.device, n: int = 8
) -> Path:
    """Six rows of ``n`` test images: A, G(A), F(G(A)), then B, F(B), G(F(B)).

    Inputs, translations and cycle reconstructions side by side, in both directions. The
    first ``n`` test images of each domain, so grids of two runs on one dataset compare.
    """
    model.to(device).eval()
    rows = []
    for direction, back, x in (("a2b", "b2a", data.test_x), ("b2a", "a2b", data.test_b_x)):
        src = ImageData.to_float(x[:n]).to(device)  # type: ignore[index]
        out = model.translate(src, direction).float().clamp(0, 1)
        rows += [src, out, model.translate(out, back).float().clamp(0, 1)]
    x = torch.cat(rows).cpu()
    # Upscaled to MIN_CELL_PX a cell (an 8x8 digit was 8 px), each row named by what it shows.
    grid_image(x, title=f"{data.name}: translations and cycles", row_labels=ROW_LABELS, columns=n).save(path)
    return path


ROW_LABELS = ["A (input)", "A -> B", "A -> B -> A", "B (input)", "B -> A", "B -> A -> B"]
