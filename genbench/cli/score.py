"""``genbench score`` (samples made elsewhere, scored under a benchmark's protocol) and
``genbench samples`` (a run's samples written for other tools)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from genbench.cli import output
from genbench.cli.options import Budget, DbOpt, DeviceOpt, ResultsOpt
from genbench.cli.output import EvalProgress


def score(
    samples: Annotated[
        Path,
        typer.Argument(
            help="A folder of PNG/JPEG images (any depth), an ADM .npz (arr_0 uint8 NHWC, arr_1 labels) or a .pt."
        ),
    ],
    benchmark: Annotated[
        str, typer.Option("--benchmark", help="Benchmark whose protocol scores them (`genbench benchmarks`).")
    ],
    name: Annotated[
        Optional[str], typer.Option("--name", help="The entry's label on leaderboards; default: the file's name.")
    ] = None,
    budget: Annotated[
        Optional[Budget],
        typer.Option("--budget", help="Score at this budget's sample count; default: the largest the file fills."),
    ] = None,
    data_dir: Annotated[
        Optional[str], typer.Option("--data-dir", envvar="GENBENCH_DATA", help="Data root holding the reference set.")
    ] = None,
    device: DeviceOpt = "auto",
    threads: Annotated[int, typer.Option("--threads", help="CPU threads for torch; 0: as `genbench run`.")] = 0,
    results_dir: ResultsOpt = Path("results"),
    db: DbOpt = None,
) -> None:
    """Score sample images made elsewhere under a benchmark's protocol and rank them beside trained runs."""
    from genbench.engine.score import ScoreRequest, score_samples
    from genbench.plugins import get_plugins
    from genbench.report.leaderboard import rank_of
    from genbench.report.tables import fmt_value

    plugins = get_plugins()
    plugins.benchmark(benchmark)  # an unknown benchmark is said before the files are read
    from genbench.store import Store, default_db_url

    store = Store(db or default_db_url(results_dir))  # the entry is written here, a new store created
    progress = EvalProgress()
    req = ScoreRequest(samples, benchmark, name, budget.value if budget else None, data_dir, device, threads)
    try:
        outcome = score_samples(
            plugins, store, req, cache_dir=results_dir / "cache", progress=progress,
            notice=lambda m: output.err_console.print(f"[yellow]note:[/] {m}", highlight=False, soft_wrap=True),
        )  # fmt: skip
    finally:
        progress.close()
    run = outcome.run
    output.console.print(
        f"entry [bold]{run.id}[/] '{run.model}' (samples, sha256 {(run.provenance or {}).get('sha256', '?')[:12]}): "
        f"{outcome.used:,} of {outcome.total:,} images on {run.benchmark} ({run.budget} sample count)",
        highlight=False,
    )
    table = Table(header_style="bold")
    for col in ("metric", "value", "", "rank", "fingerprint"):
        table.add_column(col, justify="right" if col in ("value", "rank") else "left", no_wrap=True)
    for sc in outcome.scores:
        rank = rank_of(store, run.id, sc.name, sc.fingerprint_hash)
        arrow = ("↓ " if sc.direction == "min" else "↑ ") + sc.unit
        table.add_row(
            sc.name, fmt_value(sc.value), arrow, f"{rank[0]} of {rank[1]}" if rank else "-", sc.fingerprint_hash
        )
    output.console.print(table)
    for metric, why in outcome.skipped.items():
        output.console.print(f"[dim]{metric} not scored: {why}[/]", highlight=False)


def samples(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix) of a finished run.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="FILE.npz (ADM layout), FILE.pt, or a new folder of PNGs.")],
    conditional: Annotated[
        bool, typer.Option("--conditional", help="The class-conditional samples and their labels (.npz or .pt).")
    ] = False,
    device: DeviceOpt = "auto",
    results_dir: ResultsOpt = Path("results"),
    db: DbOpt = None,
) -> None:
    """Write the samples a run's evaluation scored (same seed and count) for other tools, or `genbench score`."""
    from genbench.engine.runner import Runner
    from genbench.engine.score import run_samples

    progress = EvalProgress()
    runner = Runner(results_dir, db, progress=progress)
    try:
        run, n = run_samples(runner, run_id, out, conditional=conditional, device_name=device, progress=progress)
    finally:
        progress.close()
    kind = "class-conditional samples and labels" if conditional else "samples"
    output.console.print(f"wrote {n:,} {kind} of run {run.id} ({run.model}) to {out}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("score")(score)
    app.command("samples")(samples)
