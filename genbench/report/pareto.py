"""Quality against compute: one point per run, the metric against training time or images seen.

Points of one family share a colour, points of one model a marker; the Pareto front (no other
run is both cheaper and better) is drawn as a step line. Only values of one leaderboard column
(one benchmark, budget, metric and fingerprint) share a plot, so every point is comparable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from genbench.report.leaderboard import Board, Column

XAxis = Literal["train_seconds", "images_seen"]
# Markers told apart at a glance, given in this order to the models of one family (which share a colour).
_MARKERS = "os^DXPv*"
LEGEND_PT = 10


def pareto_points(board: Board, col: Column, x: XAxis = "train_seconds") -> list[tuple[float, float, str, str, str]]:
    """(cost, value, family, row label, run id) for every run with a value in the column."""
    points = []
    for row in board.rows:
        cell = row.value(col)
        if cell is None:
            continue
        costs = row.train_seconds if x == "train_seconds" else [float(n) for n in row.images_seen]
        cost_of = dict(zip(row.run_ids, costs))
        for value, run_id in zip(cell.values, cell.run_ids):
            points.append((cost_of[run_id], value, row.family, row.label, run_id))
    return points


def pareto_front(points: list[tuple[float, float]], direction: str) -> list[tuple[float, float]]:
    """The points no other point beats on both cost (lower) and value (by ``direction``), by cost."""
    better = (lambda a, b: a < b) if direction == "min" else (lambda a, b: a > b)
    front: list[tuple[float, float]] = []
    for cost, value in sorted(points, key=lambda p: (p[0], p[1] if direction == "min" else -p[1])):
        if not front or better(value, front[-1][1]):
            front.append((cost, value))
    return front


def model_markers(family_labels: list[tuple[str, str]]) -> dict[str, str]:
    """A marker per row label: the models of one family (one colour) get distinct shapes in order."""
    markers: dict[str, str] = {}
    for family in sorted({f for f, _ in family_labels}):
        in_family = sorted({label for f, label in family_labels if f == family})
        markers.update({label: _MARKERS[i % len(_MARKERS)] for i, label in enumerate(in_family)})
    return markers


def save_pareto(board: Board, path: Path, *, metric: str | None = None, x: XAxis = "train_seconds") -> Path | None:
    """Write the plot as PNG; None when the column has no values."""
    col = board.column(metric)
    if col is None:
        return None
    points = pareto_points(board, col, x)
    if not points:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    families = sorted({p[2] for p in points})
    labels = sorted({p[3] for p in points})
    colours = {f: plt.get_cmap("tab10")(i % 10) for i, f in enumerate(families)}
    markers = model_markers([(p[2], p[3]) for p in points])
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    for label in labels:
        pts = [p for p in points if p[3] == label]
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], color=colours[pts[0][2]], marker=markers[label], s=70,
                   label=f"{label} ({pts[0][2]})", edgecolor="black", linewidth=0.5, zorder=3)  # fmt: skip
    front = pareto_front([(p[0], p[1]) for p in points], col.direction)
    if len(front) > 1:
        ax.step([p[0] for p in front], [p[1] for p in front], where="post", color="grey", linestyle="--",
                linewidth=1, label="Pareto front", zorder=2)  # fmt: skip
    costs = [p[0] for p in points]
    if min(costs) > 0 and max(costs) / min(costs) > 20:
        ax.set_xscale("log")
    ax.set_xlabel("training wall time (s)" if x == "train_seconds" else "images seen in training")
    arrow = "lower is better" if col.direction == "min" else "higher is better"
    ax.set_ylabel(f"{col.key}" + (f" ({col.unit})" if col.unit else "") + f", {arrow}")
    ax.set_title(f"{board.title}: {col.key} against {'training time' if x == 'train_seconds' else 'images seen'}",
                 fontsize=10)  # fmt: skip
    ax.grid(alpha=0.3)
    # Beside the axes, so that 10 pt names never hide a point.
    ax.legend(fontsize=LEGEND_PT, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path
