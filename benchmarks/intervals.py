"""Do the evaluation intervals cover, and what do they cost? (issue 23)

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/intervals.py [--model vae] [--others 10] [--repeats 3]

1. Trains one digits quick run of ``--model`` (seed 0, 1 thread) in a temporary results folder,
   or reuses ``--run`` in ``--results-dir``.
2. Coverage: re-evaluates its checkpoint with ``--others`` other evaluation seeds (1, 2, ...)
   and counts, for clf-fd and nll, how many of those values fall inside the first evaluation's
   95% interval. An interval of the expected value holds another draw's value with probability
   about P(|Z| < 1.96/√2) = 83% when the other draw is as noisy as the first (both vary), so
   about 8 of 10 is what a well-calibrated interval gives; 10 of 10 by a wide margin says the
   interval holds noise the re-evaluation does not redraw (nll: the test images are fixed, only
   the bound's Monte Carlo draws change with the seed).
3. Cost: evaluates the checkpoint ``--repeats`` times with the intervals and ``--repeats`` times
   with every interval function replaced by one returning none, alternating, and prints the
   seconds of each metric and in all (clf-fd-inf, a metric of its own, is left out of the total).
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from unittest import mock

import torch

from genbench.engine.runner import Runner
from genbench.store import Store, default_db_url
from genbench.store.queries import list_runs

INTERVAL_FUNCTIONS = ("fd_interval", "score_interval", "mean_interval", "delong_interval")
METRIC_MODULES = ("accuracy", "classifier_metrics", "inception", "nll", "ood", "prdc", "probe", "reconstruction",
                  "translation")  # fmt: skip


def no_intervals() -> ExitStack:
    """Every metric module's interval helpers replaced by ones that compute nothing."""
    stack = ExitStack()
    for name in METRIC_MODULES:
        module = importlib.import_module(f"genbench.metrics.{name}")
        for fn in INTERVAL_FUNCTIONS:
            if hasattr(module, fn):
                fake = (lambda a, b: (0.0, None)) if fn == "delong_interval" else (lambda *a, **k: None)
                stack.enter_context(mock.patch.object(module, fn, fake))
    return stack


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vae")
    parser.add_argument("--run", help="a finished digits run to use instead of training one")
    parser.add_argument("--results-dir", type=Path)
    parser.add_argument("--others", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = args.results_dir or Path(tempfile.mkdtemp(prefix="genbench-intervals-"))
    genbench = str(Path(sys.executable).parent / "genbench")
    run_id = args.run
    if run_id is None:
        cmd = [genbench, "run", args.model, "--dataset", "digits", "--budget", "quick", "--threads", "1",
               "--results-dir", str(results)]  # fmt: skip
        print("$", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True, capture_output=True)
        run_id = next(r.id for r in list_runs(Store(default_db_url(results)), model=args.model))
    runner = Runner(results)
    # The first evaluation, by this code, at the default evaluation seed.
    first = {sc.name: sc for sc in runner.evaluate(run_id, [], "cpu", ["clf-fd", "nll"]).scores}
    print(f"run {run_id} ({args.model}, digits quick, seed 0), first evaluation (eval seed 1234):")
    for name, sc in first.items():
        assert sc.interval is not None
        print(f"  {name} = {sc.value:.4f}, 95% interval [{sc.interval.low:.4f}, {sc.interval.high:.4f}] "
              f"({sc.interval.method})")  # fmt: skip

    others: dict[str, list[float]] = {name: [] for name in first}
    for seed in range(1, args.others + 1):
        outcome = runner.evaluate(run_id, [f"eval.seed={seed}"], "cpu", list(first))
        for sc in outcome.scores:
            others[sc.name].append(sc.value)
    for name, values in others.items():
        iv = first[name].interval
        assert iv is not None
        inside = sum(iv.contains(v) for v in values)
        print(f"coverage {name}: {inside} of {len(values)} re-evaluations inside the first interval; "
              f"their values {min(values):.4f} to {max(values):.4f}, sd {statistics.stdev(values):.4f}; "
              f"the interval's half-width {iv.half_width:.4f}")  # fmt: skip

    timings: dict[str, dict[str, list[float]]] = {"with": {}, "without": {}}
    for _ in range(args.repeats):
        for mode in ("with", "without"):
            with no_intervals() if mode == "without" else ExitStack():
                t0 = time.perf_counter()
                outcome = runner.evaluate(run_id, [], "cpu")
                total = time.perf_counter() - t0
            for sc in outcome.scores:
                timings[mode].setdefault(sc.name, []).append(sc.seconds)
            inf = sum(sc.seconds for sc in outcome.scores if sc.name.endswith("-inf"))
            timings[mode].setdefault("(evaluation, without *-inf)", []).append(total - inf)
    print(f"evaluation seconds, median of {args.repeats} (1 thread):")
    print(f"  {'metric':32} {'with':>8} {'without':>8} {'added':>8}")
    for name in timings["with"]:
        w, wo = statistics.median(timings["with"][name]), statistics.median(timings["without"][name])
        print(f"  {name:32} {w:8.2f} {wo:8.2f} {100 * (w - wo) / max(wo, 1e-9):7.0f}%")


if __name__ == "__main__":
    main()
