"""One run in 1 and in N processes (torchrun, gloo on the CPU): training images/s and the largest loss difference.

    OMP_NUM_THREADS=1 GENBENCH_DATA=/work/shared/data .venv/bin/python benchmarks/ddp_cpu.py \\
        --model vae --dataset mnist --budget quick --steps 300 --nproc 1,2

Each count trains the same command (same seed, same global batch) for ``--steps`` steps with
``genbench run --nproc N`` (stopped there as a Ctrl-C would, so no evaluation runs) and prints
images/s of the training loop, and the largest relative difference of a logged loss from the
1-process run. A model that draws noise in its step (a VAE's eps) gives rank 1 its own noise, so
its losses agree with one process statistically only; a deterministic one (``--model ae
--family ae``) agrees to float reduction order.
"""

from __future__ import annotations

import argparse
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="vae")
    parser.add_argument("--model", default="vae")
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--budget", default="quick")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--nproc", default="1,2")
    args = parser.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    threads = env["OMP_NUM_THREADS"]
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs, OMP_NUM_THREADS={threads}")
    losses: dict[int, dict[tuple[int, str], float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in [int(x) for x in args.nproc.split(",")]:
            results = Path(tmp) / f"n{n}"
            cmd = [sys.executable, "-m", "genbench", "run", args.family, "--model", args.model, "--dataset",
                   args.dataset, "--budget", args.budget, "--device", "cpu", "--stop-after-steps", str(args.steps),
                   "--results-dir", str(results)] + (["--nproc", str(n)] if n > 1 else [])  # fmt: skip
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if proc.returncode:
                sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
            speed = re.search(r"\(([\d,]+) img/s this session\)", proc.stdout)
            with sqlite3.connect(results / "genbench.db") as db:
                losses[n] = {(s, k): v for s, k, v in db.execute("select step, name, value from losses")}
            ref = losses[min(losses)]
            worst = {}  # loss name -> (relative, absolute) largest difference from the first count
            for (step, name), v in losses[n].items():
                rel, ab = worst.get(name, (0.0, 0.0))
                d = abs(v - ref[(step, name)])
                worst[name] = (max(rel, d / max(abs(ref[(step, name)]), 1e-12)), max(ab, d))
            rate = speed.group(1) if speed else "?"
            print(f"nproc {n}: {rate} img/s (training loop), {len(losses[n])} logged losses")
            for name, (rel, ab) in sorted(worst.items()):
                print(f"    {name}: largest difference from {min(losses)} process(es) {ab:.3g} (relative {rel:.2e})")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
