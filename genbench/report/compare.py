"""``genbench compare A B``: is A better than B, by how much, and how sure is that?

A and B are run ids (one run each) or model names (every seed of the model's row) on one
leaderboard. For each metric (``--metric``, else each task's headline, else every metric
both have) the comparison gives A − B with its 95% interval and the probability of
improvement P(A better than B) over seeds and evaluation noise
(:func:`genbench.api.uncertainty.compare_entries` states how).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from genbench.api.uncertainty import Entry, compare_entries, resolved
from genbench.errors import GenbenchError
from genbench.report.leaderboard import Board, Column, Row, build_boards
from genbench.store import Store


@dataclass
class Side:
    """One side of a comparison: its row on the board and, for a run id, that run only."""

    name: str
    row: Row
    run_id: str | None = None

    def entry(self, col: Column) -> Entry | None:
        cell = self.row.value(col)
        if cell is None:
            return None
        if self.run_id is None:
            return cell.entry
        picked = [i for i, r in enumerate(cell.run_ids) if r == self.run_id]
        if not picked:
            return None
        i = picked[-1]
        return Entry((cell.values[i],), (cell.seeds[i],), (cell.intervals[i],))


def _find(store: Store, boards: list[Board], name: str) -> dict[int, Side]:
    """Board index -> the side ``name`` names there: a run id (or prefix), else a model name or row label."""
    found: dict[int, Side] = {}
    run_id = None
    try:
        run_id = store.get_run(name).id
    except GenbenchError:
        pass
    for i, board in enumerate(boards):
        if run_id is not None:
            row = next((r for r in board.rows if run_id in r.run_ids), None)
            if row is not None:
                found[i] = Side(name, row, run_id)
            continue
        rows = [r for r in board.rows if name in (r.label, r.model)]
        exact = [r for r in rows if r.label == name]
        if len(exact) == 1 or len(rows) == 1:
            found[i] = Side(name, (exact or rows)[0])
        elif len(rows) > 1:
            labels = "; ".join(f"'{r.label}'" for r in rows)
            raise GenbenchError(f"model '{name}' has several rows on {board.title}: name one of {labels}")
    return found


def compare(
    store: Store,
    a: str,
    b: str,
    *,
    metric: str | None = None,
    dataset: str | None = None,
    benchmark: str | None = None,
    budget: str | None = None,
) -> tuple[Board, list[dict[str, Any]]]:
    """The board A and B share and one record per compared metric (JSON-ready)."""
    boards = [bd for bd in build_boards(store, dataset=dataset, benchmark=benchmark) if budget in (None, bd.budget)]
    sides_a, sides_b = _find(store, boards, a), _find(store, boards, b)
    for name, sides in ((a, sides_a), (b, sides_b)):
        if not sides:
            raise GenbenchError(
                f"'{name}' is neither a run id nor a model on a leaderboard: `genbench runs` lists them"
            )
    shared = sorted(set(sides_a) & set(sides_b))
    if not shared:
        raise GenbenchError(f"'{a}' and '{b}' share no leaderboard (benchmark and budget): compare runs of one board")
    if len(shared) > 1:
        titles = ", ".join(boards[i].title for i in shared)
        raise GenbenchError(f"'{a}' and '{b}' are on several leaderboards ({titles}): give --benchmark and --budget")
    board = boards[shared[0]]
    side_a, side_b = sides_a[shared[0]], sides_b[shared[0]]
    if metric is not None:
        col = board.column(metric)
        if col is None:
            raise GenbenchError(f"--metric {metric}: {board.title} has {', '.join(c.key for c in board.columns)}")
        columns = [col]
    else:
        columns = [c for _, c in board.tasks()] or board.columns
    records = []
    for col in columns:
        ea, eb = side_a.entry(col), side_b.entry(col)
        if ea is None or eb is None:
            continue
        c = compare_entries(ea, eb, col.direction)
        records.append(
            {
                "benchmark": board.benchmark,
                "benchmark_version": board.version,
                "budget": board.budget,
                "metric": col.key,
                "direction": col.direction,
                "a": side_a.run_id or side_a.row.label,
                "b": side_b.run_id or side_b.row.label,
                "a_mean": ea.mean,
                "b_mean": eb.mean,
                "a_seeds": len(ea.values),
                "b_seeds": len(eb.values),
                "difference": c.difference,
                "ci_low": c.interval.low if c.interval else None,
                "ci_high": c.interval.high if c.interval else None,
                "ci_method": c.interval.method if c.interval else None,
                "p_a_better": c.p_better,
                "paired_seeds": c.paired_seeds,
                "resolved": resolved(ea, eb),  # the leaderboard's rule: do they share a rank?
            }
        )
    if not records:
        raise GenbenchError(f"'{a}' and '{b}' have no metric in common on {board.title}")
    return board, records
