"""Train the VAE on MNIST at the quick budget and print throughput, overhead, memory and NLL.

    GENBENCH_DATA=../shared/data .venv/bin/python benchmarks/vae_mnist_quick.py [--device cpu] [--budget quick]

"Outside the model" is everything in the training loop except ``model.training_step``
(forward, backward and optimizer update): batching, loss logging, checkpoints, store writes.
"""

from __future__ import annotations

import argparse
import resource
import tempfile

import torch

from genbench.engine.runner import Runner, RunRequest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--budget", default="quick")
    parser.add_argument("--model", default="vae")
    parser.add_argument("--results-dir", default=None, help="default: a temporary folder")
    args = parser.parse_args()

    results = args.results_dir or tempfile.mkdtemp(prefix="genbench-bench-")
    runner = Runner(results)
    out = runner.run(RunRequest("vae", "mnist", model=args.model, budget=args.budget, device=args.device))
    tr = out.train
    assert tr is not None and out.run.status == "finished", out.run.message
    outside = 1.0 - tr.step_seconds / tr.loop_seconds
    if out.run.device == "cuda":
        peak = f"{torch.cuda.max_memory_allocated() / 2**20:,.0f} MiB GPU"
    else:
        peak = f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB RSS"
    scores = {s.name: s for s in out.scores}
    print(f"run               {out.run.id} ({args.model}, mnist, {args.budget}, {out.run.hardware})")
    print(f"images seen       {tr.images_seen:,} in {tr.loop_seconds:.1f} s of training loop")
    print(f"images/s          {tr.images_seen / tr.loop_seconds:,.0f}")
    print(f"outside model     {100 * outside:.2f}% of loop wall time (target < 5%)")
    print(f"peak memory       {peak}")
    for name, sc in scores.items():
        unit = f" {sc.unit}" if sc.unit else ""
        print(f"{name:<17} {sc.value:.4f}{unit}  ({sc.fingerprint.get('num_samples')} samples, {sc.seconds:.1f} s)")


if __name__ == "__main__":
    main()
