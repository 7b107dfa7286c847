"""Leaderboards as rich tables, markdown, records (JSON/CSV); the legend under each table."""

from __future__ import annotations

import csv
import io
import json
import statistics
from typing import Any

from rich.table import Table

from genbench.report.escape import csv_cell, md_cell, md_line
from genbench.report.leaderboard import WARNED_MARK, Board, Column, Row

NA = "n/a"  # the model cannot give this metric
MISSING = "–"  # it could, but no value is stored (skipped or not evaluated)


def fmt_value(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.3e}"


def fmt_seconds(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def fmt_count(n: float) -> str:
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= div:
            return f"{n / div:.3g}{unit}"
    return f"{n:.0f}"


def cell_text(row: Row, col: Column) -> str:
    if row.lacks(col):
        return NA
    cell = row.value(col)
    if cell is None:
        return MISSING
    return fmt_value(cell.mean) + (f" ± {fmt_value(cell.std)}" if len(cell.values) > 1 else "")


def compute_texts(row: Row) -> dict[str, str]:
    """The cost columns of a row: parameters, images seen, training time and device, evaluations per sample."""
    return {
        "params": fmt_count(row.params),
        "images": fmt_count(statistics.fmean(row.images_seen)) if row.images_seen else MISSING,
        "train time": fmt_seconds(statistics.fmean(row.train_seconds)) if row.train_seconds else MISSING,
        "device": ", ".join(sorted(row.devices)),
        "NFE": str(row.nfe) if row.nfe is not None else MISSING,
    }


COMPUTE = ("params", "images", "train time", "device", "NFE")


def legend_lines(board: Board) -> list[str]:
    """One line per column: direction, plain description, counts and fingerprint; then the key."""
    lines = []
    sort = board.column()
    for col in board.columns:
        arrow = "lower is better" if col.direction == "min" else "higher is better"
        desc = col.description or col.metric
        counts = f"; {col.counts}" if col.counts else ""
        sorted_by = " (sorted by this)" if sort is not None and col.key == sort.key else ""
        lines.append(f"{col.key}: {desc} ({arrow}{counts}; fingerprint {col.fingerprint_hash}){sorted_by}")
    lines.append(
        f"mean ± std over seeds; {NA}: the model lacks the capability; {MISSING}: not measured; NFE: network "
        "evaluations per sample; train time: seconds in training steps, evaluation excluded"
    )
    warned = [run_id for row in board.rows for run_id in row.warned]
    if warned:
        lines.append(
            f"{WARNED_MARK}: a run of this row carries a warning; `genbench show RUN` says what ({', '.join(warned)})"
        )
    return lines


# Columns a narrow terminal gives up first; values, ranks and model names are never cut.
DROP_ORDER = ("images", "seeds", "device", "NFE", "params", "family", "train time")


def board_table(board: Board, width: int | None = None) -> Table:
    """The rich table; columns that do not fit ``width`` (default: the terminal's) are left out,
    cheapest first (see ``DROP_ORDER``), and the caption says which."""
    from rich.console import Console

    width = width or Console().width
    ranked = board.ranked()
    cols: dict[str, tuple[str, list[str]]] = {"#": ("right", []), "model": ("left", []), "family": ("left", [])}
    for col in board.columns:
        cols[col.header] = ("right", [])
    cols["seeds"] = ("right", [])
    for name in COMPUTE:
        cols[name] = ("right", [])
    for row in ranked:
        rank = board.rank(row)
        compute = compute_texts(row)
        values = [str(rank) if rank else MISSING, row.label, row.family, *(cell_text(row, c) for c in board.columns),
                  str(len(row.seeds)), *(compute[n] for n in COMPUTE)]  # fmt: skip
        for (_, cells), value in zip(cols.values(), values):
            cells.append(value)

    def need(name: str) -> int:
        longest = max([len(name), *(len(c) for c in cols[name][1])])
        return (min(longest, 24) if name == "model" else longest) + 3  # the model's name may wrap

    dropped = []
    for name in DROP_ORDER:
        if sum(need(n) for n in cols) + 1 <= width:
            break
        del cols[name]
        dropped.append(name)
    table = Table(title=board.title, title_justify="left", header_style="bold", caption_justify="left")
    for name, (justify, _) in cols.items():
        table.add_column(name, justify=justify, no_wrap=name != "model",  # type: ignore[arg-type]
                         overflow="fold" if name == "model" else "ellipsis")  # fmt: skip
    for i in range(len(ranked)):
        table.add_row(*(cells[i] for _, cells in cols.values()))
    legend = legend_lines(board)
    if dropped:
        legend.append(f"not shown at this width: {', '.join(dropped)} (widen the terminal or use --format markdown)")
    table.caption = "\n".join(legend)
    return table


def boards_records(boards: list[Board]) -> list[dict[str, Any]]:
    """One record per row and metric (tidy data): what JSON and CSV print."""
    out = []
    for b in boards:
        for col in b.columns:
            ranked = [r for r in b.ranked(col.key) if r.value(col) is not None]
            for i, row in enumerate(ranked, 1):
                cell = row.value(col)
                assert cell is not None
                out.append(
                    {
                        "dataset": b.dataset,
                        "benchmark": b.benchmark,
                        "benchmark_version": b.version,
                        "budget": b.budget,
                        "metric": col.metric,
                        "column": col.key,
                        "direction": col.direction,
                        "unit": col.unit,
                        "fingerprint_hash": col.fingerprint_hash,
                        "num_samples": col.fingerprint.get("num_samples"),
                        "reference_count": col.fingerprint.get("reference_count"),
                        "rank": i,
                        "model": row.model,
                        "family": row.family,
                        "settings": row.settings,
                        "mean": cell.mean,
                        "std": cell.std,
                        "n_seeds": len(cell.values),
                        "seeds": row.seeds,
                        "runs": row.run_ids,
                        "params": row.params,
                        "images_seen": statistics.fmean(row.images_seen) if row.images_seen else None,
                        "train_seconds": statistics.fmean(row.train_seconds) if row.train_seconds else None,
                        "device": ",".join(sorted(row.devices)),
                        "nfe": row.nfe,
                    }
                )
    return out


def _md(text: str) -> str:
    return md_cell(text)


def board_markdown(board: Board) -> str:
    heads = ["#", "model", "family", *(c.header for c in board.columns), "seeds", *COMPUTE]
    align = ["---:", "---", "---", *("---:" for _ in board.columns), "---:", *("---:" for _ in COMPUTE)]
    lines = [f"### {md_line(board.title)}", "", "| " + " | ".join(map(_md, heads)) + " |", "|" + "|".join(align) + "|"]
    for row in board.ranked():
        rank = board.rank(row)
        compute = compute_texts(row)
        cells = [str(rank) if rank else MISSING, row.label, row.family, *(cell_text(row, c) for c in board.columns),
                 str(len(row.seeds)), *(compute[n] for n in COMPUTE)]  # fmt: skip
        lines.append("| " + " | ".join(map(_md, cells)) + " |")
    lines.append("")
    lines.extend(f"- {md_line(line)}" for line in legend_lines(board))
    lines.append("")
    return "\n".join(lines)


def boards_markdown(boards: list[Board]) -> str:
    return "\n".join(board_markdown(b) for b in boards)


def records_csv(records: list[dict[str, Any]]) -> str:
    if not records:
        return ""
    buf = io.StringIO()
    fieldnames = list(dict.fromkeys(k for r in records for k in r))
    writer = csv.DictWriter(buf, fieldnames=fieldnames)
    writer.writeheader()
    for r in records:
        writer.writerow({k: csv_cell(json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in r.items()})
    return buf.getvalue()
