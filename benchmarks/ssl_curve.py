"""Learning curve of a semi-supervised model (m2, m1m2) on MNIST: test accuracy every N images.

    GENBENCH_DATA=/work/shared/data OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ssl_curve.py \\
        m1m2 --images 1200000 --every 60000

Trains as ``genbench run`` would for a run of ``--images`` images (``total_steps`` known, so
``m1_fraction`` means the same), on the benchmark's class-balanced ``--labels`` subset (label
seed 0), with shuffled batches of ``--batch-size``; every ``--every`` images it prints the images
seen, the wall and CPU seconds of training so far (evaluation excluded), the accuracy of
``classify`` on the 10,000 test images and the last step's losses. For m1m2 it also prints the
1-nearest-neighbour accuracy of M1's code (mean of q(z1|x)) from the labelled images, a measure
of the code M2 starts from. One thread.
"""

from __future__ import annotations

import argparse
import time

import torch

from genbench.api.dataset import ImageData
from genbench.api.model import Batch, StepContext
from genbench.api.representation import labelled_subset
from genbench.data import load_dataset
from genbench.engine.build import build_model, resolve_config
from genbench.plugins import get_plugins


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", choices=["m2", "m1m2"])
    ap.add_argument("--images", type=int, default=1_200_000, help="images of the whole run")
    ap.add_argument("--every", type=int, default=60_000, help="images between accuracy checks")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--labels", default="100")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], help="key=value model setting, repeatable")
    args = ap.parse_args()
    torch.set_num_threads(1)

    data = load_dataset("mnist")
    spec = get_plugins().models.get(args.model)
    overrides = dict(item.split("=", 1) for item in args.set)
    torch.manual_seed(args.seed)
    model = build_model(spec, data.info, resolve_config(spec, data.info, overrides))
    subset = labelled_subset(data.train_y, args.labels, 0, data.info.num_classes)
    lab_x, lab_y = data.train_x[subset.indices], data.train_y[subset.indices]
    model.set_labelled(lab_x, lab_y)  # type: ignore[attr-defined]
    ctx = StepContext(model.configure_optimizers(), device=torch.device("cpu"))
    bs, n = args.batch_size, len(data.train_y)
    ctx.total_steps = args.images // bs
    gen = torch.Generator().manual_seed(args.seed)
    test_x = ImageData.to_float(data.test_x)
    perm, pos = torch.randperm(n, generator=gen), 0
    wall = cpu = 0.0
    model.train()
    for step in range(ctx.total_steps):
        if pos + bs > n:
            perm, pos = torch.randperm(n, generator=gen), 0
        idx = perm[pos : pos + bs]
        pos += bs
        ctx.step, ctx.images_seen = step, step * bs
        t0, c0 = time.time(), time.process_time()
        losses = model.training_step(Batch(ImageData.to_float(data.train_x[idx]), data.train_y[idx]), ctx)
        wall, cpu = wall + time.time() - t0, cpu + time.process_time() - c0
        seen = (step + 1) * bs
        if seen // args.every == step * bs // args.every and step < ctx.total_steps - 1:
            continue
        model.eval()
        with torch.no_grad():
            pred = torch.cat([model.classify(test_x[i : i + 2000]).argmax(1) for i in range(0, len(test_x), 2000)])
            acc = (pred == data.test_y).float().mean()
            line = f"images {seen:9,d}  {wall:6.0f} s  cpu {cpu:6.0f} s  accuracy {acc:.4f}"
            if hasattr(model, "_z1"):
                z_lab, z_test = model._z1(ImageData.to_float(lab_x)), model._z1(test_x)
                nearest = lab_y[torch.cdist(z_test, z_lab).argmin(1)]
                line += f"  knn1(z1) {(nearest == data.test_y).float().mean():.4f}"
        model.train()
        print(line + "  " + " ".join(f"{k}={float(v):.2f}" for k, v in losses.items()), flush=True)


if __name__ == "__main__":
    main()
