"""Sample grids and loss curves saved beside every run, sized and labelled for a person to read."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from genbench.api.model import GenerativeModel
from genbench.api.restoration import restoration_context

GRID_COLUMNS = 8
LABEL_PT = 10  # axis, tick and legend text of the plots, at the size the report shows them
MIN_CELL_PX = 64  # each sample is upscaled (nearest neighbour) to at least this many pixels a side
SEPARATOR_RGB = (214, 39, 40)  # red: never mistaken for a grey sample or a black/white background
SEPARATOR_PX = 2
BACKGROUND_RGB = (255, 255, 255)
TEXT_RGB = (0, 0, 0)

# Logged series that are diagnostics, not losses: plotted on their own panel.
DIAGNOSTIC_WORDS = ("spread", "r1", "gp", "w_distance", "grad_norm", "accuracy", "acc", "ratio", "lr")


@torch.no_grad()
def save_sample_grid(model: GenerativeModel, path: Path, *, device: torch.device, seed: int, title: str = "") -> Path:
    """8 samples a row; a class-conditional model gets one labelled row per class.

    The generator is a CPU one (samples from a seed are the same on every device; models draw
    noise with ``genbench.api.randn_tensor``).
    """
    model.to(device).eval()
    gen = torch.Generator("cpu").manual_seed(seed)
    row_labels: list[str] = []
    if "conditional" in model.capabilities:
        classes = min(model.info.num_classes, 10)
        labels = torch.arange(classes).repeat_interleave(GRID_COLUMNS)
        x = model.sample(len(labels), labels=labels.to(device), generator=gen)
        row_labels = [f"class {k}" for k in range(classes)]
    else:
        x = model.sample(GRID_COLUMNS * GRID_COLUMNS, generator=gen)
    grid_image(x.float().clamp(0, 1).cpu(), title=title, row_labels=row_labels).save(path)
    return path


@torch.no_grad()
def save_restoration_grid(
    model: GenerativeModel,
    degradation: dict[str, Any],
    test_x: torch.Tensor,
    path: Path,
    *,
    device: torch.device,
    seed: int,
    samples: int = 16,
    title: str = "",
) -> Path:
    """The first 8 test images, a column each: measurement (its classical fill), three posterior
    samples, their mean over ``samples``, the per-pixel std (scaled so the largest is white) and the truth."""
    model.to(device).eval()
    rest = restoration_context(degradation, test_x, GRID_COLUMNS, samples)
    m = rest.measurements
    out = model.restore(m.to(device), samples, generator=torch.Generator("cpu").manual_seed(seed)).float().cpu()
    std = out.std(dim=1, correction=0)
    top = float(std.max())
    shown = 3
    rows = [m.fill(), *(out[:, i] for i in range(min(shown, samples))), out.mean(1), std / max(top, 1e-8)]
    rows.append(rest.truth.float() / 255.0)
    labels = ["measured", *(f"sample {i + 1}" for i in range(min(shown, samples))), f"mean of {samples}"]
    labels += [f"std (max {top:.2f})", "truth"]
    x = torch.cat([r.clamp(0, 1) for r in rows])
    caption = f"{title} - {m.op.describe()}" if title else m.op.describe()
    grid_image(x, title=caption, row_labels=labels, columns=len(rest.truth)).save(path)
    return path


def grid_image(x: torch.Tensor, *, title: str = "", row_labels: list[str] | None = None, columns: int = GRID_COLUMNS):
    """A PIL image of ``x`` (N, C, H, W) in [0, 1]: cells upscaled nearest-neighbour to at least
    MIN_CELL_PX, red separators, the title above and a label left of each row."""
    from PIL import Image, ImageDraw

    n, c, h, w = x.shape
    scale = max(1, math.ceil(MIN_CELL_PX / max(h, w)))
    cell_h, cell_w = h * scale, w * scale
    rows = math.ceil(n / columns)
    # (N, C, H, W) -> (N, H*s, W*s, 3) uint8; grayscale repeated to RGB so separators can be coloured.
    pix = torch.round(x * 255).to(torch.uint8)
    pix = pix.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)
    pix = (pix if c == 3 else pix[:, :1].expand(-1, 3, -1, -1)).permute(0, 2, 3, 1).contiguous()

    font = _font(14)
    labels = row_labels or []
    label_w = (max(_text_size(font, s)[0] for s in labels) + 12) if labels else 0
    title_h = (_text_size(font, title)[1] + 14) if title else 0
    grid_w = columns * cell_w + (columns + 1) * SEPARATOR_PX
    grid_h = rows * cell_h + (rows + 1) * SEPARATOR_PX
    width = max(label_w + grid_w, (_text_size(font, title)[0] + 12) if title else 0)  # the title is never cut
    canvas = Image.new("RGB", (width, title_h + grid_h), BACKGROUND_RGB)
    draw = ImageDraw.Draw(canvas)
    draw.rectangle([label_w, title_h, label_w + grid_w - 1, title_h + grid_h - 1], fill=SEPARATOR_RGB)
    for i in range(n):
        r, col = divmod(i, columns)
        left = label_w + SEPARATOR_PX + col * (cell_w + SEPARATOR_PX)
        top = title_h + SEPARATOR_PX + r * (cell_h + SEPARATOR_PX)
        canvas.paste(Image.fromarray(pix[i].numpy(), "RGB"), (left, top))
    if title:
        draw.text((6, 7), title, fill=TEXT_RGB, font=font)
    for r, text in enumerate(labels[:rows]):
        tw, th = _text_size(font, text)
        top = title_h + SEPARATOR_PX + r * (cell_h + SEPARATOR_PX) + (cell_h - th) // 2
        draw.text((label_w - tw - 6, top), text, fill=TEXT_RGB, font=font)
    return canvas


def _font(size: int):  # type: ignore[no-untyped-def]
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1 with FreeType: a scalable font
    except TypeError:
        return ImageFont.load_default()


def _text_size(font, text: str) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    left, top, right, bottom = font.getbbox(text or " ")
    return int(right - left), int(bottom)


def is_diagnostic(name: str) -> bool:
    """True for logged values that are not losses (spread, r1, gp, w_distance, ...)."""
    words = name.lower().replace("-", "_").split("_")
    return name.lower() in DIAGNOSTIC_WORDS or any(w in DIAGNOSTIC_WORDS for w in words if w != "loss")


def save_loss_curve(points: dict[str, list[tuple[int, float]]], path: Path, title: str) -> Path:
    """Losses against images seen, one panel per scale: series whose typical magnitudes differ by
    more than 10x get panels of their own, and diagnostics that are not losses (spread, r1, gp,
    w_distance) are drawn apart from the losses."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = loss_panels({k: v for k, v in points.items() if v})
    # 7 inches at 110 dpi is 770 px: the report shows it at that width, so 10 pt text reads as 10 pt.
    fig, axes = plt.subplots(len(panels), 1, figsize=(7, 2.4 * len(panels) + 0.8), dpi=110, sharex=True, squeeze=False)
    for ax, (kind, names) in zip(axes[:, 0], panels):
        for name in names:
            xs, ys = zip(*points[name])
            ax.plot(xs, ys, label=name, linewidth=1.4)
        ax.set_ylabel(kind, fontsize=LABEL_PT)
        ax.tick_params(labelsize=LABEL_PT)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=LABEL_PT, loc="best")
    axes[-1, 0].set_xlabel("images seen", fontsize=LABEL_PT)
    axes[0, 0].set_title(title, fontsize=LABEL_PT + 1)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def loss_panels(points: dict[str, list[tuple[int, float]]]) -> list[tuple[str, list[str]]]:
    """Group series into panels: losses of one scale together, each diagnostic scale apart."""
    out: list[tuple[str, list[str]]] = []
    for kind, names in (
        ("loss", sorted(n for n in points if not is_diagnostic(n))),
        ("diagnostic", sorted(n for n in points if is_diagnostic(n))),
    ):
        groups: list[tuple[float, list[str]]] = []
        for name in sorted(names, key=lambda n: _magnitude(points[n])):
            mag = _magnitude(points[name])
            if groups and mag - groups[-1][0] <= 1.0:  # within 10x of the group's smallest
                groups[-1][1].append(name)
            else:
                groups.append((mag, [name]))
        out.extend((kind, sorted(g)) for _, g in groups)
    return out or [("loss", [])]


def _magnitude(series: list[tuple[int, float]]) -> float:
    """log10 of the median absolute value (the series' typical scale)."""
    values = sorted(abs(v) for _, v in series)
    return math.log10(max(values[len(values) // 2], 1e-12))
