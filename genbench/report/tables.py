"""Rich tables and plain-text formats for the CLI's views."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from rich.table import Table

from genbench.report.leaderboard import Board


def fmt_value(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.3e}"


def board_table(board: Board) -> Table:
    table = Table(title=board.title, title_justify="left", header_style="bold")
    table.add_column("#", justify="right")
    table.add_column("model")
    table.add_column("family")
    table.add_column(board.metric, justify="right")
    table.add_column("seeds", justify="right")
    table.add_column("params", justify="right")
    table.add_column("runs")
    for i, row in enumerate(board.ranked(), 1):
        value = fmt_value(row.mean) + (f" ± {fmt_value(row.std)}" if len(row.values) > 1 else "")
        table.add_row(
            str(i), row.label, row.family, value, str(len(row.values)), f"{row.params:,}", " ".join(row.run_ids)
        )
    return table


def boards_records(boards: list[Board]) -> list[dict[str, Any]]:
    out = []
    for b in boards:
        for i, row in enumerate(b.ranked(), 1):
            out.append(
                {
                    "dataset": b.dataset,
                    "benchmark": b.benchmark,
                    "benchmark_version": b.version,
                    "budget": b.budget,
                    "metric": b.metric,
                    "direction": b.direction,
                    "unit": b.unit,
                    "fingerprint_hash": b.fingerprint_hash,
                    "rank": i,
                    "model": row.model,
                    "family": row.family,
                    "settings": row.settings,
                    "mean": row.mean,
                    "std": row.std,
                    "n_seeds": len(row.values),
                    "seeds": row.seeds,
                    "runs": row.run_ids,
                    "params": row.params,
                }
            )
    return out


def boards_markdown(boards: list[Board]) -> str:
    parts = []
    for b in boards:
        parts.append(f"### {b.title}\n")
        parts.append(f"| # | model | family | {b.metric} | seeds | params |")
        parts.append("|---:|---|---|---:|---:|---:|")
        for i, row in enumerate(b.ranked(), 1):
            value = fmt_value(row.mean) + (f" ± {fmt_value(row.std)}" if len(row.values) > 1 else "")
            parts.append(f"| {i} | {row.label} | {row.family} | {value} | {len(row.values)} | {row.params:,} |")
        parts.append("")
    return "\n".join(parts)


def records_csv(records: list[dict[str, Any]]) -> str:
    if not records:
        return ""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(records[0]))
    writer.writeheader()
    for r in records:
        writer.writerow({k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in r.items()})
    return buf.getvalue()
