"""Compare two snapshots of one suite, model by model: time and the largest change of any value.

    python results/compare.py BEFORE/runs.jsonl AFTER/runs.jsonl [--markdown]

For each model with a run in both (the newest run of each, by creation time): its training and
evaluation seconds (wall, as stored: the sum over its stored values' seconds) before and after,
and the metric whose value moved most, relative to the before value, with both values and
whether the after value falls inside the before value's 95% interval. A `runs.jsonl` is what
`genbench export` writes (results/snapshot.sh keeps one in every snapshot); an older version of
one is `git show COMMIT:results/SUITE/runs.jsonl > before.jsonl`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def newest_runs(path: Path) -> dict[str, dict[str, Any]]:
    """The newest finished run of each model in an export, with its metrics (latest value per name)."""
    runs: dict[str, dict[str, Any]] = {}
    for line in path.read_text().splitlines():
        record = json.loads(line)
        run = record["run"]
        if run["status"] != "finished":
            continue
        if run["model"] in runs and runs[run["model"]]["run"]["created_at"] >= run["created_at"]:
            continue
        latest: dict[str, dict[str, Any]] = {}
        for value in sorted(record["metrics"], key=lambda v: v["created_at"]):
            latest[value["name"]] = value
        runs[run["model"]] = {"run": run, "metrics": latest}
    return runs


def eval_seconds(entry: dict[str, Any]) -> float:
    return sum(v.get("seconds") or 0.0 for v in entry["metrics"].values())


def largest_change(before: dict[str, Any], after: dict[str, Any]) -> tuple[str, float, float, bool] | None:
    """(metric, before value, after value, after inside before's interval) of the largest relative move."""
    best: tuple[float, tuple[str, float, float, bool]] | None = None
    for name, old in before["metrics"].items():
        new = after["metrics"].get(name)
        if new is None or old["fingerprint_hash"] != new["fingerprint_hash"]:
            continue
        move = abs(new["value"] - old["value"]) / max(abs(old["value"]), 1e-12)
        low, high = old.get("ci_low"), old.get("ci_high")
        inside = low is not None and high is not None and low <= new["value"] <= high
        if best is None or move > best[0]:
            best = (move, (name, old["value"], new["value"], inside))
    return None if best is None else best[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--markdown", action="store_true", help="a markdown table instead of plain columns")
    args = parser.parse_args()
    before, after = newest_runs(args.before), newest_runs(args.after)
    header = ["model", "train s before", "after", "eval s before", "after", "largest change", "in interval"]
    rows = []
    totals = [0.0, 0.0, 0.0, 0.0]
    for model in sorted(set(before) & set(after)):
        b, a = before[model], after[model]
        times = [b["run"]["train_seconds"] or 0.0, a["run"]["train_seconds"] or 0.0, eval_seconds(b), eval_seconds(a)]
        totals = [t + x for t, x in zip(totals, times)]
        change = largest_change(b, a)
        if change is None or change[1] == change[2]:
            moved, inside = "none", "-"  # no shared value, or every value equal
        else:
            moved, inside = f"{change[0]} {change[1]:.4g} -> {change[2]:.4g}", "yes" if change[3] else "no"
        rows.append([model, *(f"{t:,.0f}" for t in times), moved, inside])
    rows.append(["total", *(f"{t:,.0f}" for t in totals), "", ""])
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join(["---"] + ["---:"] * 4 + ["---", "---"]) + "|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    only = sorted(set(before) ^ set(after))
    if only:
        print(f"in one snapshot only: {', '.join(only)}")


if __name__ == "__main__":
    main()
