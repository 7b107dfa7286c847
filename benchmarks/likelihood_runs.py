"""Print every finished run's NLL with its Gibbs noise check and training speed, from a results folder.

    .venv/bin/python benchmarks/likelihood_runs.py --results-dir /tmp/flow-results [--dataset mnist]
    .venv/bin/python benchmarks/likelihood_runs.py --results-dir R --grids RUN --temperatures 1.0,0.7 --out DIR

The noise value is the one the ``nll`` metric recorded under its fingerprint's ``observed`` key
(bits/dim that the model gives uniformly random 8-bit images; at least 8 for a normalised model).
``--grids`` also writes an 8x8 sample grid of a run at each temperature (flows' eval setting).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from sqlalchemy import select

from genbench.engine.runner import Runner
from genbench.report.images import save_sample_grid
from genbench.store.schema import MetricRecord, Run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", required=True)
    parser.add_argument("--dataset", default=None)
    parser.add_argument("--grids", default=None, help="a run id: write its sample grids")
    parser.add_argument("--temperatures", default="1.0,0.7")
    parser.add_argument("--out", default=".")
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()
    runner = Runner(args.results_dir)

    query = select(MetricRecord, Run).join(Run).where(Run.status == "finished", MetricRecord.name == "nll")
    if args.dataset:
        query = query.where(Run.dataset == args.dataset)
    print("| run | model | dataset | budget | seed | NLL bits/dim | noise check bits/dim | images/s | train s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    with runner.store.session() as s:
        for rec, run in s.execute(query.order_by(Run.model, Run.seed)).all():
            noise = rec.fingerprint.get("observed", {}).get("noise_bits_per_dim", "-")
            speed = run.images_seen / run.train_seconds if run.train_seconds else float("nan")
            print(
                f"| {run.id} | {run.model} | {run.dataset} | {run.budget} | {run.seed} | {rec.value:.4f} "
                f"| {noise} | {speed:.1f} | {run.train_seconds:.0f} |"
            )

    if args.grids:
        for t in args.temperatures.split(","):
            model, _ = runner.load_trained(args.grids, {"temperature": t})
            path = Path(args.out) / f"{args.grids}-T{t}.png"
            save_sample_grid(model, path, device=torch.device("cpu"), seed=args.seed)
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
