"""One quick-budget DDPM on MNIST, sampled with DDPM-1000, DDIM-100, DDIM-50 and DDIM-20.

    GENBENCH_DATA=../shared/data .venv/bin/python benchmarks/ddpm_samplers.py --num-samples 1000 [--run ID]

Every sampler draws the same number of samples from the same checkpoint; for each it prints the
U-Net evaluations per sample (counted with a forward hook, not assumed), samples/s and the
offline classifier Fréchet distance against the MNIST test set. Then the NLL bound in bits/dim.
Without --run it first trains the model (`genbench run diffusion --dataset mnist --budget quick`).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from genbench.api.metric import EvalContext
from genbench.engine.build import build_metric
from genbench.engine.device import resolve_device
from genbench.engine.runner import Runner, RunRequest

SAMPLERS = [("ddpm", 1000), ("ddim", 100), ("ddim", 50), ("ddim", 20)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-samples", type=int, default=1000)
    parser.add_argument("--nll-images", type=int, default=1000)
    parser.add_argument(
        "--train-eval-samples",
        type=int,
        default=100,
        help="eval.num_samples of the training run's own evaluation (kept small: this script scores it)",
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--run", default=None, help="reuse a finished run instead of training one")
    parser.add_argument("--results-dir", default=None, help="default: a temporary folder")
    args = parser.parse_args()

    runner = Runner(args.results_dir or tempfile.mkdtemp(prefix="genbench-ddpm-"))
    device = resolve_device(args.device)
    if args.run is None:
        t0 = time.perf_counter()
        sets = [f"eval.num_samples={args.train_eval_samples}"]
        out = runner.run(RunRequest("diffusion", "mnist", model="ddpm", budget="quick", device=args.device, sets=sets))
        assert out.run.status == "finished", out.run.message
        run_id = out.run.id
        print(f"trained run {run_id} in {time.perf_counter() - t0:.0f} s ({out.run.hardware})")
    else:
        run_id = runner.store.get_run(args.run).id
    fd = build_metric(runner.plugins.metrics.get("clf-fd"))
    nll = build_metric(runner.plugins.metrics.get("nll"))

    print(f"\n{args.num_samples} samples per sampler on {device}")
    print(f"{'sampler':<10} {'steps':>6} {'NFE/sample':>11} {'samples/s':>10} {'clf-fd':>9}")
    for sampler, steps in SAMPLERS:
        model, data = runner.load_trained(run_id, {"sampler": sampler, "steps": str(steps)})
        model.to(device).eval()
        calls = [0]
        model.net.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
        ctx = EvalContext(model, data, args.num_samples, device, seed=1234, batch_size=500,
                          cache_dir=Path(runner.results_dir) / "cache")  # fmt: skip
        t0 = time.perf_counter()
        ctx.samples()
        seconds = time.perf_counter() - t0
        batches = -(-args.num_samples // 500)
        value = fd.compute(ctx).value
        print(f"{sampler:<10} {steps:>6} {calls[0] / batches:>11.0f} {args.num_samples / seconds:>10.2f} {value:>9.3f}")

    model, data = runner.load_trained(run_id)
    ctx = EvalContext(
        model.to(device).eval(), data, args.nll_images, device, cache_dir=Path(runner.results_dir) / "cache"
    )
    t0 = time.perf_counter()
    bound = nll.compute(ctx)
    print(f"\nNLL bound {bound.value:.3f} bits/dim on {args.nll_images} test images "
          f"(nll_timesteps={model.config.nll_timesteps}, {time.perf_counter() - t0:.0f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
