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


def interval_text(low: float, high: float) -> str:
    return f"[{fmt_value(low)}, {fmt_value(high)}]"


def cell_text(row: Row, col: Column) -> str:
    """The row's mean and its 95% interval: over seeds with two or more, else the evaluation interval."""
    if row.lacks(col):
        return NA
    cell = row.value(col)
    if cell is None:
        return MISSING
    interval = cell.interval
    return fmt_value(cell.mean) + (f" {interval_text(interval.low, interval.high)}" if interval else "")


def eval_text(row: Row, col: Column) -> str:
    """± the evaluation interval's half-width (mean over seeds): the sample noise, beside the seed spread."""
    cell = row.value(col)
    half = cell.eval_half_width if cell is not None else None
    return f"±{fmt_value(half)}" if half is not None else MISSING


INTERVALS = (
    "[a, b]: 95% interval, over seeds (t) for a row with 2+ seeds (training and evaluation noise), else "
    "the one run's evaluation interval (sample noise only); eval ±: half-width of the evaluation interval, "
    "mean over seeds; 1= : a shared rank, the difference is not resolved (paired t over matching seeds, "
    "else non-overlapping intervals; a value without an interval resolves nothing)"
)


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
    lines.append(INTERVALS)
    lines.append(
        f"{NA}: the model lacks the capability; {MISSING}: not measured; NFE: network "
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
        rank = board.rank_text(row)
        compute = compute_texts(row)
        values = [rank or MISSING, row.label, row.family, *(cell_text(row, c) for c in board.columns),
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
            for row in ranked:
                cell = row.value(col)
                assert cell is not None
                interval = cell.interval
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
                        "rank": b.rank(row, col.key),
                        "rank_shared": (b.rank_text(row, col.key) or "").endswith("="),
                        "model": row.model,
                        "family": row.family,
                        "settings": row.settings,
                        "mean": cell.mean,
                        "std": cell.std,
                        "ci_low": interval.low if interval else None,
                        "ci_high": interval.high if interval else None,
                        "ci_method": interval.method if interval else None,
                        "eval_half_width": cell.eval_half_width,
                        "n_seeds": len(cell.values),
                        "seeds": row.seeds,
                        "runs": row.run_ids,
                        "params": row.params,
                        "images_seen": statistics.fmean(row.images_seen) if row.images_seen else None,
                        "train_seconds": statistics.fmean(row.train_seconds) if row.train_seconds else None,
                        "device": ",".join(sorted(row.devices)),
                        "nfe": row.nfe,
                        # what computing the value cost, mean over the row's runs (genbench.api.cost)
                        "eval_seconds": cell.mean_seconds,
                        "network_evaluations": cell.mean_evaluations,
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
        rank = board.rank_text(row)
        compute = compute_texts(row)
        # Names come from plugins and store rows: escaped. The other cells are genbench's own
        # number formatting ('4.40 [4.20, 4.60]'), shown as written.
        names = [rank or MISSING, _md(row.label), _md(row.family)]
        cells = [*(cell_text(row, c) for c in board.columns), str(len(row.seeds)), *(compute[n] for n in COMPUTE)]
        lines.append("| " + " | ".join(names + cells) + " |")
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


# -- the terminal's view: one ranked section per task ------------------------------------------

# Columns of a task's section a narrow terminal gives up first; rank, model and value never go.
SECTION_DROP_ORDER = ("params", "train time", "eval ±", "seeds", "family")


def _section_columns(board: Board, col: Column, rows: list[Row]) -> dict[str, tuple[str, list[str]]]:
    interval_head = f"{col.header} [95%]"
    has_settings = any(r.shown for r in rows)
    cols: dict[str, tuple[str, list[str]]] = {"#": ("right", []), "model": ("left", [])}
    if has_settings:
        cols["settings"] = ("left", [])
    cols.update({"family": ("left", []), interval_head: ("right", []), "seeds": ("right", []),
                 "eval ±": ("right", []), "params": ("right", []), "train time": ("right", [])})  # fmt: skip
    for row in rows:
        compute = compute_texts(row)
        texts = {
            "#": board.rank_text(row, col.key) or MISSING,
            "model": row.model,
            "settings": ", ".join(f"{k}={v}" for k, v in row.shown.items()),
            "family": row.family,
            interval_head: cell_text(row, col),
            "seeds": str(len(row.value(col).values)) if row.value(col) else "0",  # type: ignore[union-attr]
            "eval ±": eval_text(row, col),
            "params": compute["params"],
            "train time": compute["train time"],
        }
        for name, (_, cells) in cols.items():
            cells.append(texts[name])
    return cols


def section_table(board: Board, task: str, col: Column, width: int) -> Table:
    """One task's ranking: the models that can give its headline metric, best first, ties shared.

    Model, family and rank are never cut: cost columns give way first (``SECTION_DROP_ORDER``),
    and evaluation settings, the one column that may wrap, wrap between words."""
    rows = [r for r in board.ranked(col.key) if r.value(col) is not None]
    cols = _section_columns(board, col, rows)

    def need(name: str) -> int:
        longest = max([len(name), *(len(c) for c in cols[name][1])])
        return (min(longest, 16) if name == "settings" else longest) + 3  # settings may wrap

    dropped = []
    for name in SECTION_DROP_ORDER:
        if sum(need(n) for n in cols) + 1 <= width:
            break
        del cols[name]
        dropped.append(name)
    table = Table(title=f"{task}: {col.key} ({board.title})", title_justify="left", header_style="bold",
                  caption_justify="left")  # fmt: skip
    for name, (justify, _) in cols.items():
        table.add_column(name, justify=justify, no_wrap=name != "settings",  # type: ignore[arg-type]
                         overflow="fold" if name == "settings" else "ellipsis")  # fmt: skip
    for i in range(len(rows)):
        table.add_row(*(cells[i] for _, cells in cols.values()))
    arrow = "lower is better" if col.direction == "min" else "higher is better"
    counts = f"; {col.counts}" if col.counts else ""
    lacking = sum(1 for r in board.rows if r.lacks(col))
    missing = sum(1 for r in board.rows if r.value(col) is None and not r.lacks(col))
    notes = [f"{col.key}: {col.description or col.metric} ({arrow}{counts})"]
    if lacking or missing:
        notes.append(
            f"not ranked here: {lacking} model(s) without the capability"
            + (f", {missing} without a stored value" if missing else "")
        )
    if dropped:
        notes.append(f"not shown at this width: {', '.join(dropped)} (--wide or --format markdown show them)")
    table.caption = "\n".join(notes)
    return table


def section_tables(board: Board, width: int | None = None, metric: str | None = None) -> list[Table]:
    """The terminal leaderboard of a board: one ranked section per task the benchmark declares (its
    headline metric), or for ``metric`` alone; a board with no declared task ranks its sort column."""
    from rich.console import Console

    width = width or Console().width
    if metric is not None:
        col = board.column(metric)
        return [] if col is None else [section_table(board, "metric", col, width)]
    tasks = board.tasks()
    if not tasks:
        col = board.column()
        return [] if col is None else [section_table(board, "ranked by", col, width)]
    return [section_table(board, task, col, width) for task, col in tasks]


def sections_footer(boards: list[Board]) -> list[str]:
    """What the sections leave out and how to see it."""
    shown = sum(len(b.columns) for b in boards)
    return [
        INTERVALS,
        f"{shown} metric column(s) in all: `genbench leaderboard --wide` shows every column, "
        "`--format markdown` a shareable table, `--metric M` ranks by one metric",
    ]
