"""One table of every translation metric per model (mean ± std over seeds) with training images/s.

    python benchmarks/translation_table.py --results-dir /tmp/cyclegan-results --dataset mnist2color --budget quick

Reads the run store (the same values `genbench leaderboard` ranks, one board per metric) and
prints them side by side as markdown. images/s is images of domain A seen over the time spent
inside ``training_step`` (each step also sees as many domain-B images); a model with nothing
to train shows "-".
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from genbench.report.leaderboard import build_boards
from genbench.report.tables import fmt_value
from genbench.store import Store, default_db_url
from genbench.store.schema import Run

KINDS = ("translate-acc", "translate-domain-acc", "translate-fd", "cycle-l1", "gt-l1")
METRICS = [f"{m}-{d}" for m in KINDS for d in ("a2b", "b2a")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", default="results")
    parser.add_argument("--dataset", default="mnist2color")
    parser.add_argument("--budget", default="quick")
    args = parser.parse_args()
    store = Store(default_db_url(Path(args.results_dir)))
    boards = [b for b in build_boards(store, dataset=args.dataset) if b.budget == args.budget]
    rows: dict[str, dict[str, str]] = {}
    runs: dict[str, set[str]] = {}
    arrows: dict[str, str] = {}
    for board in boards:
        columns = [c for c in board.columns if c.metric in METRICS]
        for metric in {c.metric for c in columns}:
            if sum(c.metric == metric for c in columns) > 1:
                raise SystemExit(f"{metric}: values with different fingerprints; use `genbench leaderboard`")
        for column in columns:
            arrows[column.metric] = "↑" if column.direction == "max" else "↓"
            for row in board.rows:
                cell = row.value(column)
                if cell is None:
                    continue
                text = fmt_value(cell.mean) + (f" ± {fmt_value(cell.std)}" if len(cell.values) > 1 else "")
                rows.setdefault(row.label, {})[column.metric] = text
                runs.setdefault(row.label, set()).update(cell.run_ids)
    metrics = [m for m in METRICS if any(m in r for r in rows.values())]
    print("| model | seeds | " + " | ".join(f"{m} {arrows[m]}" for m in metrics) + " | train img/s |")
    print("|---|---:|" + "---:|" * len(metrics) + "---:|")
    for label, cells in sorted(rows.items()):
        speeds = []
        for run_id in runs[label]:
            run = store.get_run(run_id)
            assert isinstance(run, Run)
            if run.images_seen and run.train_seconds:
                speeds.append(run.images_seen / run.train_seconds)
        speed = f"{statistics.fmean(speeds):.1f}" if speeds else "-"
        print(f"| {label} | {len(runs[label])} | " + " | ".join(cells.get(m, "") for m in metrics) + f" | {speed} |")


if __name__ == "__main__":
    main()
