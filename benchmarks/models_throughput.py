"""Training images/s of every registered model at a dataset's shape, with and without mixed precision.

    .venv/bin/python benchmarks/models_throughput.py --shape 3,32,32 --classes 10 --name cifar10 --device cuda

The batches are random 8-bit images with random labels: a step costs the same whatever the pixels
are, so this needs no data files (CIFAR-10 cannot be downloaded offline) and measures the model,
not the loader. The model gets the config ``genbench run`` would give it on the named dataset
(``--name`` picks the presets, e.g. ddpm's 35.7M-parameter ``paper`` preset for cifar10). For each
model and precision it prints parameters, images/s over the timed steps, peak GPU memory, and the
hours the dataset's ``standard`` budget would take at that speed.
"""

from __future__ import annotations

import argparse
import time

import torch

from genbench.api.dataset import DataInfo
from genbench.api.model import Batch, StepContext
from genbench.engine.build import build_model, resolve_config
from genbench.engine.device import resolve_device
from genbench.plugins import get_plugins


def images_per_second(
    name: str, info: DataInfo, batch_size: int, amp: str, device: torch.device, warmup: int, seconds: float
) -> tuple[int, float, float]:
    """(parameters, training images/s, peak GPU MiB) of model ``name`` on random batches."""
    spec = get_plugins().models.get(name)
    torch.manual_seed(0)
    model = build_model(spec, info, resolve_config(spec, info)).to(device).train()
    ctx = StepContext(model.configure_optimizers(), device=device, amp=amp)
    if not ctx.optimizers:  # nothing to train (e.g. the identity translator): no speed to measure
        return 0, float("nan"), 0.0
    gen = torch.Generator().manual_seed(0)
    batches = [
        Batch(
            (torch.randint(0, 256, (batch_size, *info.shape), generator=gen).float() / 255).to(device),
            torch.randint(0, info.num_classes, (batch_size,), generator=gen).to(device),
            # a second domain's batch, for translation models (the others ignore it)
            (torch.randint(0, 256, (batch_size, *info.shape), generator=gen).float() / 255).to(device),
        )
        for _ in range(4)
    ]
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    step = 0
    # Warm-up steps pay for cuDNN autotuning and allocator growth; they are not timed.
    for _ in range(warmup):
        ctx.step = step
        model.training_step(batches[step % 4], ctx)
        step += 1
    sync()
    t0, timed = time.perf_counter(), 0
    while timed < 3 or time.perf_counter() - t0 < seconds:
        ctx.step = step
        model.training_step(batches[step % 4], ctx)
        step, timed = step + 1, timed + 1
        if timed % 10 == 0:
            sync()
    sync()
    rate = timed * batch_size / (time.perf_counter() - t0)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else 0.0
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)  # not the EMA copy
    return params, rate, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="cifar10", help="dataset name the models size their presets to")
    parser.add_argument("--shape", default="3,32,32", help="C,H,W")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--models", default="", help="comma-separated; default: every registered model")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--amp", default="none,bf16", help="comma-separated: none, bf16, fp16")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds per model and precision")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    plugins = get_plugins()
    device = resolve_device(args.device)
    info = DataInfo(args.name, tuple(int(s) for s in args.shape.split(",")), args.classes)  # type: ignore[arg-type]
    names = [m for m in args.models.split(",") if m] or sorted(plugins.models.names())
    bench = plugins.benchmarks.get(args.name)
    standard = bench.budgets.get("standard") if bench else None
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        print(f"device: {torch.cuda.get_device_name(device)}, torch {torch.__version__}")
    else:
        print(f"device: cpu ({torch.get_num_threads()} threads), torch {torch.__version__}")
    print(f"shape {info.shape}, batch {args.batch_size}; standard budget: {standard or 'n/a'} images\n")
    print(f"{'model':<10} {'amp':<5} {'params':>11} {'images/s':>10} {'peak MiB':>9} {'standard (h)':>13}")
    for name in names:
        for amp in args.amp.split(","):
            params, rate, peak = images_per_second(name, info, args.batch_size, amp, device, args.warmup, args.seconds)
            hours = f"{standard / rate / 3600:.1f}" if standard else "n/a"
            print(f"{name:<10} {amp:<5} {params:>11,} {rate:>10.0f} {peak:>9.0f} {hours:>13}", flush=True)


if __name__ == "__main__":
    main()
