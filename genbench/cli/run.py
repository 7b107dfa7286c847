"""The commands that train and score: run, resume and eval."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from genbench.cli import output
from genbench.cli.options import Budget, DbOpt, DeviceOpt, ResultsOpt, SetOpt
from genbench.cli.output import EvalProgress, reporter
from genbench.columns import print_columns
from genbench.errors import GenbenchError

if TYPE_CHECKING:
    from genbench.engine.distribution import Distribution
    from genbench.engine.runner import Outcome, Runner


def _runner(
    results_dir: Path, db: str | None, progress: EvalProgress | None = None, dist: Distribution | None = None
) -> Runner:
    from genbench.engine.runner import Runner

    return Runner(
        results_dir,
        db,
        notice=lambda m: output.err_console.print(f"[yellow]note:[/] {m}", highlight=False, soft_wrap=True),
        progress=progress,
        phase=lambda m: output.err_console.print(f"[bold]{m}[/]", highlight=False, soft_wrap=True),
        dist=dist,
    )


def _print_outcome(runner: Runner, outcome: Outcome) -> None:
    from genbench.report.leaderboard import rank_of
    from genbench.report.tables import fmt_value, interval_text

    run = outcome.run
    style = {"finished": "green", "interrupted": "yellow"}.get(run.status, "red")
    output.console.print(
        f"run [bold]{run.id}[/] {run.family}/{run.model} on {run.dataset} ({run.budget}, seed {run.seed}): "
        f"[{style}]{run.status}[/]" + (f" — {run.message}" if run.message else "")
    )
    for line in time_summary(outcome):
        output.console.print(line, highlight=False)
    if run.kind == "pretrained":
        source = run.config.get("source") or {}
        output.console.print(
            f"pretrained: {source.get('pipeline', '?')} ({source.get('revision', '?')}), nothing trained",
            highlight=False,
        )
    if not outcome.scores:
        return
    # Fingerprints are in `genbench show`: at 80 columns the interval matters more here. Every cell
    # is whole (a metric name, a unit): the columns last in this order give way on a narrow terminal.
    headers = ["metric", "value", "95% interval", "", "rank", "seconds"]
    cells = []
    for sc in outcome.scores:
        rank = rank_of(runner.store, run.id, sc.name, sc.fingerprint_hash)
        cells.append([
            sc.name, fmt_value(sc.value), interval_text(sc.interval.low, sc.interval.high) if sc.interval else "-",
            ("↓ " if sc.direction == "min" else "↑ ") + sc.unit, f"{rank[0]} of {rank[1]}" if rank else "-",
            f"{sc.seconds:.1f}",
        ])  # fmt: skip
    print_columns(
        output.console, headers, cells, headers, right={"value", "rank", "seconds"},
        see_all="piped (| cat), every column is shown",
    )  # fmt: skip
    output.console.print(f"[dim]ranks share a number when the difference is not resolved; `genbench show {run.id}` "
                         "gives each value's fingerprint and interval method[/]")  # fmt: skip
    settings = {k: v for sc in outcome.scores for k, v in sc.settings.items()}  # the model's eval settings, shared
    if settings:
        output.console.print("eval settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()), highlight=False)
    for art in run.artifacts:
        output.console.print(f"[dim]{art.kind}: {art.path}[/]")
    if run.budget == "smoke" and run.status == "finished" and run.kind == "trained":
        output.console.print(
            "[dim]smoke is a plumbing check (a few thousand images): its samples are expected to look like noise; "
            "--budget quick gives a first real result[/]"
        )


def _end_interrupted(outcome: Outcome, results_dir: Path, db: str | None) -> None:
    """An interrupted run: say the command that continues it, and exit 130 as a Ctrl-C does.

    Under torchrun the exit stays 0 (a rank that exits non-zero makes torchrun report a crash)."""
    from genbench.engine import distributed

    if outcome.run.status != "interrupted":
        return
    where = ""
    if db:
        where = f" --db {db}"
    elif results_dir != Path("results"):
        where = f" --results-dir {results_dir}"
    output.err_console.print(
        f"continue it with: genbench resume {outcome.run.id}{where}", highlight=False, soft_wrap=True
    )
    if distributed.current() is None:
        raise typer.Exit(130)


def time_summary(outcome: Outcome) -> list[str]:
    """Training and evaluation time apart, with rates this process measured (true after a resume)."""
    run, tr = outcome.run, outcome.train
    lines = []
    if tr is not None and tr.session_images > 0 and tr.loop_seconds > 0:
        rate = tr.session_images / tr.loop_seconds
        before = run.images_seen - tr.session_images
        earlier = f"; {before:,} more before the resume" if before > 0 else ""
        lines.append(f"training: {tr.session_images:,} images in {tr.loop_seconds:.2f} s ({rate:,.0f} img/s){earlier}")
    elif run.images_seen:
        lines.append(f"training: none in this process (the run had trained {run.images_seen:,} images)")
    if outcome.scores:
        seconds = sum(sc.seconds for sc in outcome.scores)
        lines.append(f"evaluation: {len(outcome.scores)} metric(s) in {seconds:.1f} s")
    return lines


def run(
    family: Annotated[str, typer.Argument(help="Model family (e.g. vae, gan, diffusion) or a model name.")],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Dataset name; `genbench datasets` lists them.")],
    model: Annotated[
        Optional[str], typer.Option("--model", "-m", help="Model of the family; default: its default.")
    ] = None,
    budget: Annotated[
        Budget,
        typer.Option(
            "--budget", "-b", help="Training budget in images seen; `genbench benchmarks` lists each dataset's."
        ),
    ] = Budget.quick,
    benchmark: Annotated[
        Optional[str], typer.Option("--benchmark", help="Benchmark; default: the dataset's (`genbench benchmarks`).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed for initialisation and data order.")] = 0,
    set_: SetOpt = None,
    device: DeviceOpt = "auto",
    data_dir: Annotated[
        Optional[str],
        typer.Option("--data-dir", envvar="GENBENCH_DATA", help="Data root folder holding e.g. MNIST/raw/."),
    ] = None,
    results_dir: ResultsOpt = Path("results"),
    db: DbOpt = None,
    stop_after_steps: Annotated[
        int, typer.Option("--stop-after-steps", hidden=True, help="Stop as a Ctrl-C would at this step (tests).")
    ] = 0,
    threads: Annotated[
        int, typer.Option("--threads", help="CPU threads for torch; 0: $OMP_NUM_THREADS, else the idle CPUs (max 4).")
    ] = 0,
    nproc: Annotated[
        int, typer.Option("--nproc", help="Train one run with this many processes here (torchrun, DDP).")
    ] = 0,
    metric: Annotated[
        Optional[list[str]],
        typer.Option("--metric", help="Score only these of the benchmark's metrics (repeatable), e.g. clf-fd."),
    ] = None,
) -> None:
    """Train a model under the benchmark protocol, evaluate it, store the run and show its rank."""
    from genbench.engine import distributed
    from genbench.engine.runner import RunRequest

    req = RunRequest(
        family, dataset, model, budget.value, benchmark, seed, set_ or [], device, data_dir, stop_after_steps
    )
    check_counts(threads=threads, nproc=nproc, seed=seed, stop_after_steps=stop_after_steps)
    req.threads = threads
    req.metrics = list(metric or [])
    if nproc > 1:
        distributed.check_request(req, nproc)
        raise typer.Exit(distributed.launch(nproc, sys.argv[1:]))
    label = f"{family} {model or ''} {dataset}".replace("  ", " ")
    progress = EvalProgress()
    dist = distributed.for_this_process()  # one process, or this rank of a torchrun launch
    runner = _runner(results_dir, db, progress, dist)
    try:
        outcome = dist.run(runner, req, reporter(label))
    finally:
        progress.close()
    dist.leave()
    if not dist.writes:  # torchrun's other ranks: rank 0 shows the run
        return
    _print_outcome(runner, outcome)
    _end_interrupted(outcome, results_dir, db)
    if outcome.run.status == "diverged":
        raise typer.Exit(1)


MAX_SEED = 2**31 - 1  # a run's seed is a 32-bit integer column on PostgreSQL


def cpu_count() -> int:
    """CPUs this process may use (its affinity mask where the system has one)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def check_counts(*, threads: int, nproc: int, seed: int, stop_after_steps: int = 0) -> None:
    """One line for a count out of its range, before anything is loaded or started."""
    cpus = cpu_count()
    if not 0 <= threads <= cpus:
        raise GenbenchError(f"--threads {threads}: give 0 (the default) to {cpus}, the CPUs here")
    if nproc < 0:
        raise GenbenchError(f"--nproc {nproc}: give 0 or 1 (one process) or more, up to {2 * cpus}")
    if nproc > 2 * cpus:  # gloo on CPUs runs a few processes per core at most; NCCL one per GPU
        gpus = _gpu_count()
        if nproc > max(2 * cpus, gpus):
            most = max(2 * cpus, gpus)
            raise GenbenchError(f"--nproc {nproc}: this machine runs at most {most} processes of one run "
                                f"({cpus} CPUs, {gpus} GPUs); give 2 to {most}")  # fmt: skip
    if not 0 <= seed <= MAX_SEED:
        raise GenbenchError(f"--seed {seed}: give 0 to {MAX_SEED}")
    if stop_after_steps < 0:
        raise GenbenchError(f"--stop-after-steps {stop_after_steps}: give 0 (off) or a step count")


def _gpu_count() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:  # no usable CUDA
        return 0


def resume(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    device: DeviceOpt = "auto",
    results_dir: ResultsOpt = Path("results"),
    db: DbOpt = None,
) -> None:
    """Continue an interrupted run from its last checkpoint, then evaluate it."""
    from genbench.engine import distributed

    progress = EvalProgress()
    dist = distributed.for_this_process()
    runner = _runner(results_dir, db, progress, dist)
    try:
        outcome = dist.resume(runner, run_id, reporter(f"resume {run_id}"), device)
    finally:
        progress.close()
    dist.leave()
    if not dist.writes:  # torchrun's other ranks: rank 0 shows the run
        return
    _print_outcome(runner, outcome)
    _end_interrupted(outcome, results_dir, db)


def eval_(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    set_: SetOpt = None,
    device: DeviceOpt = "auto",
    results_dir: ResultsOpt = Path("results"),
    db: DbOpt = None,
    metric: Annotated[
        Optional[list[str]], typer.Option("--metric", help="Score only these metrics (repeatable), e.g. probe-acc.")
    ] = None,
    threads: Annotated[
        int, typer.Option("--threads", help="CPU threads for torch; 0: as the run was started with.")
    ] = 0,
) -> None:
    """Re-evaluate a finished run's checkpoint, e.g. `--set sampler=ddim --set steps=50 --set eval.num_samples=5000`."""
    from genbench.engine import distributed

    check_counts(threads=threads, nproc=1, seed=0)
    progress = EvalProgress()
    runner = _runner(results_dir, db, progress, distributed.for_this_process())  # under torchrun: refused
    try:
        outcome = runner.evaluate(run_id, set_ or [], device, metric or None, threads)
    finally:
        progress.close()
    _print_outcome(runner, outcome)


def register(app: typer.Typer) -> None:
    """Add run, resume and eval to the root app."""
    app.command()(run)
    app.command()(resume)
    app.command("eval")(eval_)
