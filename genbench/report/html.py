"""A static HTML report: one folder with index.html and its images, opened from disk, no server.

It holds every leaderboard (with its legend), a Pareto plot per leaderboard (the sort metric
against training time), and a section per run: sample grid, loss curve, metrics and metadata
(config, versions, commit, device). Images are copied beside the page, so the folder can be
moved, zipped or committed on its own.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from genbench.errors import GenbenchError
from genbench.report.leaderboard import Board, Cell, build_boards
from genbench.report.pareto import XAxis, save_pareto
from genbench.report.tables import (
    COMPUTE,
    cell_text,
    compute_texts,
    fmt_count,
    fmt_seconds,
    fmt_value,
    legend_lines,
)
from genbench.store import Store
from genbench.store.queries import list_runs
from genbench.store.runs import stored_path
from genbench.store.schema import Run
from genbench.validate import check_name, inside

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1400px;
       padding: 0 1em; color: #1b1b1b; background: #fff; }
h1 { font-size: 1.6em; } h2 { font-size: 1.3em; margin-top: 2em; border-bottom: 1px solid #ddd; }
h3 { font-size: 1.05em; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { padding: 4px 8px; border-bottom: 1px solid #e4e4e4; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; } td.model, td.family, th.model, th.family { text-align: left; }
td.model { white-space: normal; min-width: 10em; max-width: 18em; }
td.best { font-weight: bold; background: #eef7ee; }
.tied { background: #fff6d5; }
.legend { font-size: 0.85em; color: #444; margin: 0.3em 0 1em 0; padding-left: 1.2em; }
.runs { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(800px, 100%), 1fr)); gap: 1em; }
.run { border: 1px solid #ddd; border-radius: 6px; padding: 0.6em 0.8em; }
.run img { max-width: 100%; image-rendering: pixelated; display: block; margin: 0.3em 0; }
.run img.samples, .run img.translations { max-width: 100%; }  /* natural size: 64 px a cell */
.run img.losses { width: 100%; max-width: 770px; image-rendering: auto; }  /* full width: its 10 pt text at 10 pt */
table.meta { width: 100%; table-layout: fixed; } .meta td { overflow-wrap: anywhere; }
.status-finished { color: #1a7f37; } .status-failed, .status-diverged { color: #b42318; }
.status-interrupted, .status-running { color: #9a6700; }
pre { font-size: 0.75em; background: #f7f7f7; padding: 0.5em; overflow-x: auto; }
.meta td { text-align: left; white-space: normal; } .muted { color: #666; font-size: 0.85em; }
img.pareto { max-width: 100%; border: 1px solid #eee; } .scroll { overflow-x: auto; }
"""

# Counts images that loaded and that did not, for a headless browser (and a reader's console).
CHECK_JS = """
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute('data-images-loaded', String(ok));
  document.body.setAttribute('data-images-broken', String(imgs.length - ok));
});
"""


def _e(text: Any) -> str:
    return html.escape(str(text))


COST_LEGEND = (
    "eval time: the row's evaluation wall time, all its values (mean over seeds); a value's tooltip gives "
    "its own time and network evaluations (examples through the model's networks)"
)


def _cost_text(cell: Cell) -> str:
    seconds, evaluations = cell.mean_seconds, cell.mean_evaluations
    text = f"evaluation {seconds:.1f} s" if seconds is not None else "evaluation time unknown"
    return text + (f", {fmt_count(evaluations)} network evaluations" if evaluations is not None else "")


def _board_html(board: Board, index: int, pareto: str | None, pareto_x: XAxis = "train_seconds") -> str:
    sort = board.column()
    ranked = board.ranked()
    head = ["#", "model", "family", *(c.header for c in board.columns), "seeds", *COMPUTE, "eval time"]
    classes = ["", "model", "family", *("" for _ in board.columns), "", *("" for _ in COMPUTE), ""]
    out = [f'<h2 id="board-{index}">{_e(board.title)} <span class="muted">({_e(board.dataset)})</span></h2>']
    out.append(_tasks_html(board))
    out.append('<div class="scroll">')
    out.append(f'<table class="leaderboard" data-benchmark="{_e(board.benchmark)}" data-budget="{_e(board.budget)}">')
    ths = "".join(f'<th class="{c}">{_e(h)}</th>' for h, c in zip(head, classes))
    out.append(f"<thead><tr>{ths}</tr></thead>")
    out.append("<tbody>")
    for row in ranked:
        rank = board.rank_text(row)
        compute = compute_texts(row)
        tied = (
            ' class="tied" title="shares its rank: the difference is not resolved"'
            if (rank or "").endswith("=")
            else ""
        )
        cells = [f"<td{tied}>{rank or '–'}</td>", f'<td class="model">{_e(row.label)}</td>',
                 f'<td class="family">{_e(row.family)}</td>']  # fmt: skip
        for col in board.columns:
            # Every row that shares the best rank is marked best: a tie at the top has no single winner.
            cls = ' class="best"' if board.rank(row, col.key) == 1 else ""
            cell = row.value(col)
            cost = "" if cell is None else f' title="{_e(_cost_text(cell))}"'
            cells.append(f"<td{cls}{cost}>{_e(cell_text(row, col))}</td>")
        cells.append(f"<td>{len(row.seeds)}</td>")
        cells.extend(f"<td>{_e(compute[n])}</td>" for n in COMPUTE)
        eval_seconds = [c.mean_seconds for c in row.cells.values() if c.mean_seconds is not None]
        cells.append(f"<td>{_e(fmt_seconds(sum(eval_seconds)) if eval_seconds else '–')}</td>")
        runs = " ".join(row.run_ids)
        out.append(f'<tr class="row" data-model="{_e(row.model)}" data-runs="{_e(runs)}">' + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    legend = [*legend_lines(board), COST_LEGEND]
    out.append('<ul class="legend">' + "".join(f"<li>{_e(line)}</li>" for line in legend) + "</ul>")
    if pareto and sort is not None:
        cost = "training time" if pareto_x == "train_seconds" else "images seen"
        out.append(f'<h3>{_e(sort.key)} against {cost}</h3><img class="pareto" src="{_e(pareto)}" '
                   f'alt="Pareto plot of {_e(sort.key)} against {cost} for {_e(board.title)}">')  # fmt: skip
    return "\n".join(out)


def _tasks_html(board: Board) -> str:
    """Per task, its headline metric's ranking as tied groups: '1= cvae, vae · 3 realnvp'."""
    items = []
    for task, col in board.tasks():
        groups: dict[int, list[str]] = {}
        for row in board.ranked(col.key):
            rank = board.rank(row, col.key)
            if rank is not None:
                groups.setdefault(rank, []).append(row.label)
        parts = [
            f'<span class="{"tied" if len(names) > 1 else ""}">{rank}{"=" if len(names) > 1 else ""} '
            f"{_e(', '.join(names))}</span>"
            for rank, names in sorted(groups.items())
        ]
        items.append(f"<li><b>{_e(task)}</b> by {_e(col.header)}: {' · '.join(parts)}</li>")
    if not items:
        return ""
    return (
        '<ul class="tasks">'
        + "".join(items)
        + '</ul><p class="muted">models sharing a rank (=) are tied: '
        + "their difference is not resolved at 95%</p>"
    )


def _safe_id(run: Run) -> bool:
    try:
        check_name(run.id, "run id")
        return True
    except GenbenchError:
        return False


def artifact_source(run: Run, src: str | None, results_dir: Path | None = None) -> Path | None:
    """The artifact file a report may copy: a PNG inside the run's own folder (``.../runs/<id>``),
    links resolved; None otherwise. A store row names any path: it is never trusted as it is.

    Rows stored before paths were absolute are relative to the folder that command ran in
    (``results/demo/runs/<id>/samples.png``): with ``results_dir`` they are read against it."""
    if not src or not _safe_id(run) or not run.run_dir:
        return None
    run_dir = Path(run.run_dir) if results_dir is None else stored_path(run.run_dir, run.id, results_dir)
    if run_dir.name != run.id:  # a run's folder is named after it: a row pointing at /etc is not
        return None
    path = Path(src)
    if not path.is_absolute():
        path = stored_path(src, run.id, results_dir) if results_dir is not None else run_dir / path
    if not inside(path, run_dir) or not path.is_file():
        return None
    try:
        with open(path, "rb") as fh:
            if fh.read(len(PNG_MAGIC)) != PNG_MAGIC:
                return None
    except OSError:
        return None
    return path.resolve()


def _copy(run: Run, src: str | None, out: Path, name: str, results_dir: Path | None = None) -> str | None:
    """Copy an artifact beside the page as ``img/<name>``; its relative path, or None when it is
    missing or not the run's own file (see :func:`artifact_source`)."""
    source = artifact_source(run, src, results_dir)
    if source is None:
        return None
    dest = out / "img" / name
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, dest)
    return f"img/{name}"


def _images(run: Run) -> list[tuple[str, str]]:
    """(kind, stored path) of every PNG artifact: samples or translations, the loss curve."""
    return [(a.kind, a.path) for a in run.artifacts if a.path.endswith(".png")]


def _run_html(run: Run, out: Path, results_dir: Path | None = None) -> str:
    images = [
        (kind, path, _copy(run, path, out, f"{run.id}-{Path(path).name}", results_dir)) for kind, path in _images(run)
    ]
    parts = [f'<div class="run" id="run-{_e(run.id)}">']
    parts.append(f"<h3>{_e(run.model)} <span class='muted'>({_e(run.family)})</span> · run {_e(run.id)}</h3>")
    parts.append(
        f'<div>{_e(run.benchmark)} v{run.benchmark_version} · {_e(run.budget)} · seed {run.seed} · '
        f'<span class="status-{_e(run.status)}">{_e(run.status)}</span>'
        + (f' <span class="muted">— {_e(run.message)}</span>' if run.message else "") + "</div>"
    )  # fmt: skip
    for kind, path, src in images:
        css = "losses" if kind == "loss_curve" else "translations" if Path(path).stem == "translations" else "samples"
        if src is None:  # said where it was looked for, so a reader knows what is missing
            parts.append(f'<div class="muted">{_e(kind)}: image missing at {_e(path)}</div>')
        else:
            parts.append(f'<img class="{css}" src="{_e(src)}" alt="{_e(kind)} of run {_e(run.id)}">')
    if run.metrics:
        settings = {", ".join(f"{k}={v}" for k, v in m.settings.items()) for m in run.metrics}
        if len(settings) == 1:  # one evaluation: its settings once, above the values
            parts.append(f'<div class="muted">evaluation settings: {_e(settings.pop() or "none")}</div>')
        rows = "".join(
            f"<tr><td>{_e(m.name)}</td><td>{_e(fmt_value(m.value))} {_e(m.unit)}</td>"
            + (f"<td>{_e(', '.join(f'{k}={v}' for k, v in m.settings.items()))}</td>" if settings else "")
            + f"<td>{_e(m.fingerprint_hash)}</td><td>{_e(f'{m.seconds:.1f} s')}</td>"
            + f"<td>{_e('?' if m.network_evaluations is None else fmt_count(m.network_evaluations))}</td></tr>"
            for m in run.metrics
        )
        head = "<tr><th>metric</th><th>value</th>" + ("<th>settings</th>" if settings else "")
        head += "<th>fingerprint</th><th>time</th>"
        head += '<th title="examples passed through the model networks">net evals</th></tr>'
        parts.append(f'<table class="meta">{head}{rows}</table>')
    facts = [
        ("images seen", f"{run.images_seen:,} of {run.budget_images:,} ({run.steps:,} steps)"),
        ("wall time", f"{fmt_seconds(run.wall_seconds)} (model steps {fmt_seconds(run.train_seconds)})"),
        ("device", f"{run.device}: {run.hardware}"),
        ("parameters", f"{run.num_params:,}"),
        ("config hash", run.config_hash),
        ("git commit", run.git_commit or "-"),
        ("versions", ", ".join(f"{k} {v}" for k, v in run.versions.items())),
        ("created", f"{run.created_at:%Y-%m-%d %H:%M:%S} UTC"),
    ]
    rows = "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in facts)
    parts.append(f'<table class="meta">{rows}</table>')
    config = _e(json.dumps(run.config, indent=2, default=str))
    parts.append(f"<details><summary>config</summary><pre>{config}</pre></details>")
    parts.append("</div>")
    return "\n".join(parts)


def _pareto_name(board: Board, i: int) -> str:
    try:
        return f"{check_name(board.benchmark, 'benchmark')}-{check_name(board.budget, 'budget')}-{i}.png"
    except GenbenchError:  # a name from a store row that is no file name
        return f"board-{i}.png"


def check_out(out: Path) -> Path:
    """``--out``: a folder, or a path where one can be made; one line otherwise."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise GenbenchError(f"--out {out} is a file: give a folder for index.html and its images")
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            raise GenbenchError(f"--out {out}: {parent} is a file, not a folder")
    return out


def write_report(
    store: Store,
    out: Path,
    *,
    dataset: str | None = None,
    metric: str | None = None,
    pareto_x: XAxis = "train_seconds",
    warn: Callable[[str], None] = lambda m: None,
    results_dir: Path | None = None,
) -> Path:
    """Write ``out/index.html`` (and ``out/img/``, ``out/pareto/``); returns the page's path.

    The report is built in a temporary folder beside ``out``, then each file is moved into
    ``out`` with an atomic rename, the page last: a reader sees the old report or the new one,
    never a half-written file. Files of ``out`` that the report does not write are left alone.
    Every PNG artifact of every run is copied; each one that is not is named through ``warn``
    and on the page. ``results_dir`` reads artifact rows stored relative (before paths were absolute)."""
    out = check_out(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=".genbench-report-", dir=out.parent))
    except OSError as exc:
        raise GenbenchError(f"cannot write the report to {out}: {exc.strerror or exc}") from None
    try:
        _build(store, stage, dataset=dataset, metric=metric, pareto_x=pareto_x, warn=warn, results_dir=results_dir)
        _move_into(stage, out)
    except OSError as exc:
        raise GenbenchError(f"cannot write the report to {out}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return out / "index.html"


def _move_into(stage: Path, out: Path) -> None:
    """Every file of ``stage`` to the same place under ``out`` (atomic renames), index.html last."""
    files = sorted(p for p in stage.rglob("*") if p.is_file())
    files.sort(key=lambda p: p.name == "index.html")
    for src in files:
        dest = out / src.relative_to(stage)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.is_dir() or dest.is_symlink():
            raise GenbenchError(f"cannot write {dest}: something else is in its place; remove it or pick another --out")
        os.replace(src, dest)


def _build(
    store: Store,
    out: Path,
    *,
    dataset: str | None,
    metric: str | None,
    pareto_x: XAxis,
    warn: Callable[[str], None],
    results_dir: Path | None = None,
) -> None:
    """Write the report's files into ``out`` (a fresh folder)."""
    boards = build_boards(store, dataset=dataset, metric=metric)
    sections = []
    for i, board in enumerate(boards):
        png = save_pareto(board, out / "pareto" / _pareto_name(board, i), x=pareto_x)
        sections.append(_board_html(board, i, png.relative_to(out).as_posix() if png else None, pareto_x))
    listed = sorted(list_runs(store, dataset=dataset), key=lambda r: (r.benchmark, r.budget, r.family, r.model, r.seed))
    runs = [store.get_run(r.id) for r in listed]  # with their metrics and artifacts
    for r in runs:
        if not _safe_id(r):
            warn(f"run {r.id!r}: not a safe id, its images are left out of the report")
        elif left_out := [
            f"{kind} {path}" for kind, path in _images(r) if artifact_source(r, path, results_dir) is None
        ]:
            warn(f"run {r.id}: image missing or not a PNG inside its run folder, left out: {', '.join(left_out)}")
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    families = sorted({r.family for r in runs})
    toc = "".join(f'<li><a href="#board-{i}">{_e(b.title)} ({_e(b.dataset)})</a></li>' for i, b in enumerate(boards))
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>genbench report</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{CSS}</style><script>{CHECK_JS}</script></head>
<body>
<h1>genbench report</h1>
<p class="muted">generated {_e(generated)} · {len(runs)} runs ({sum(r.status == "finished" for r in runs)} finished) ·
families: {_e(", ".join(families) or "none")} · {len(boards)} leaderboards</p>
<ul>{toc}</ul>
{"".join(sections) if sections else "<p>No finished runs yet.</p>"}
<h2 id="runs">Runs</h2>
<div class="runs">
{"".join(_run_html(r, out, results_dir) for r in runs)}
</div>
</body></html>
"""
    (out / "index.html").write_text(page, encoding="utf-8")
