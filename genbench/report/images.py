"""Sample grids and loss curves saved beside every run."""

from __future__ import annotations

from pathlib import Path

import torch

from genbench.api.model import GenerativeModel


@torch.no_grad()
def save_sample_grid(model: GenerativeModel, path: Path, *, device: torch.device, seed: int) -> Path:
    """8x8 grid of samples; a class-conditional model gets one row per class instead."""
    from torchvision.utils import save_image

    model.to(device).eval()
    gen = torch.Generator(device).manual_seed(seed)
    if "conditional" in model.capabilities:
        classes = min(model.info.num_classes, 10)
        labels = torch.arange(classes, device=device).repeat_interleave(8)
        x = model.sample(len(labels), labels=labels, generator=gen)
    else:
        x = model.sample(64, generator=gen)
    save_image(x.float().clamp(0, 1).cpu(), path, nrow=8, padding=1, pad_value=0.5)
    return path


def save_loss_curve(points: dict[str, list[tuple[int, float]]], path: Path, title: str) -> Path:
    """One line per loss (both networks' for GANs) against images seen."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    for name, series in sorted(points.items()):
        if series:
            xs, ys = zip(*series)
            ax.plot(xs, ys, label=name, linewidth=1.2)
    ax.set_xlabel("images seen")
    ax.set_ylabel("loss")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
