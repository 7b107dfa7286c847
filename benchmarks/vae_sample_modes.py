"""Train the VAE on MNIST once, then score its samples under each ``sample_mode`` (mean, mode, median, draw).

    GENBENCH_DATA=/work/shared/data OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python \
        benchmarks/vae_sample_modes.py --images 20480 --num-samples 10000 --out /tmp/metrics-results/vae-modes

The likelihood does not depend on how a sample is shown, so one checkpoint serves every mode:
the comparison is at equal images seen by construction. The checkpoint is kept in ``--out`` and
reused when present. Prints clf-fd, clf-score and precision/recall/density/coverage on the
offline classifier's features per mode, and writes a 10x10 grid per mode.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import torch

from genbench.api.dataset import DataInfo
from genbench.config import TrainConfig
from genbench.data import load_dataset
from genbench.engine.build import build_metric, build_model, resolve_config
from genbench.engine.checkpoint import load_checkpoint
from genbench.engine.device import seed_everything
from genbench.engine.evaluate import evaluate
from genbench.engine.trainer import train
from genbench.plugins import get_plugins

METRICS = ("clf-fd", "clf-score", "clf-precision", "clf-recall", "clf-density", "clf-coverage")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20480, help="training images seen")
    parser.add_argument("--num-samples", type=int, default=10000)
    parser.add_argument("--modes", default="mean,mode,median,draw")
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--out", default="/tmp/metrics-results/vae-modes")
    parser.add_argument("--train-only", action="store_true")
    args = parser.parse_args()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plugins = get_plugins()
    spec = plugins.models.get("vae")
    data = load_dataset(args.dataset)
    info = DataInfo(data.info.name, data.info.shape, data.info.num_classes)
    device = torch.device("cpu")
    ckpt = out / "checkpoint.pt"
    seed_everything(0)
    model = build_model(spec, info, resolve_config(spec, info))
    if not ckpt.is_file():
        t0 = time.perf_counter()
        result = train(
            model, data, TrainConfig(), budget_images=args.images, seed=0, device=device, checkpoint_path=ckpt
        )
        print(f"trained {result.images_seen:,} images in {time.perf_counter() - t0:.0f} s ({result.status})")
    model.load_state_dict(load_checkpoint(ckpt)["model"])
    if args.train_only:
        return

    available = {m.name for m in plugins.metrics}
    metrics = [build_metric(plugins.metrics.get(name)) for name in METRICS if name in available]
    print(f"| sample_mode | {' | '.join(m.spec.name for m in metrics)} |")
    print(f"| --- |{' --- |' * len(metrics)}")
    for mode in args.modes.split(","):
        model.config = dataclasses.replace(model.config, sample_mode=mode)
        scores = evaluate(
            model, metrics, data, num_samples=args.num_samples, device=device, seed=1234, batch_size=500,
            cache_dir=out / "cache",
        )  # fmt: skip
        print(f"| {mode} | " + " | ".join(f"{s.value:.4g}" for s in scores) + " |", flush=True)
        from torchvision.utils import save_image

        with torch.no_grad():
            grid = model.sample(100, generator=torch.Generator().manual_seed(1234))
        save_image(grid, out / f"samples-{mode}.png", nrow=10, padding=1)


if __name__ == "__main__":
    main()
