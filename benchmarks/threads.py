"""Time training steps of a model at several torch thread counts, to choose ``--threads``.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/threads.py --model vae --dataset digits --steps 30

Prints seconds per step for each thread count and the load average at the time; the default
``--threads`` (:func:`genbench.engine.device.default_threads`) is printed beside them.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from genbench.data import load_dataset
from genbench.engine.build import build_model, resolve_config
from genbench.engine.device import default_threads
from genbench.plugins import get_plugins
from genbench.testing import batch_at


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vae")
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", default="1,2,4")
    args = parser.parse_args()

    plugins = get_plugins()
    spec = plugins.models.get(args.model)
    data = load_dataset(args.dataset)
    print(f"cpus {os.cpu_count()}, load average {os.getloadavg()}, default --threads {default_threads()}")
    for n in (int(t) for t in args.threads.split(",")):
        torch.set_num_threads(n)
        torch.manual_seed(0)
        model = build_model(spec, data.info, resolve_config(spec, data.info))
        from genbench.api.model import StepContext

        ctx = StepContext(model.configure_optimizers(), device=torch.device("cpu"))
        model.training_step(batch_at(data, 0, 64), ctx)  # warm-up
        t0 = time.perf_counter()
        for step in range(args.steps):
            model.training_step(batch_at(data, step, 64), ctx)
        per_step = (time.perf_counter() - t0) / args.steps
        print(f"threads {n}: {per_step * 1000:.1f} ms/step (load average {os.getloadavg()[0]:.2f})", flush=True)


if __name__ == "__main__":
    main()
