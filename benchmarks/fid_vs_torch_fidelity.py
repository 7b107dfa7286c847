"""genbench's fid, kid and is against torch-fidelity on the same images and the same weights file.

    GENBENCH_DATA=/work/shared/data OMP_NUM_THREADS=1 .venv/bin/python benchmarks/fid_vs_torch_fidelity.py \
        --n 50 --size 299

The standard weights file is not downloadable here, so a random-weights Inception of the same
architecture (tests/test_metrics_inception.py's ``random_inception_weights``) is saved to a file
and both libraries load it. Real images: the first n MNIST test images; "samples": n training
images with uniform noise added. Prints each value, torch-fidelity's, and the relative error.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_metrics_inception import Uint8Images, context, metric, random_inception_weights  # noqa: E402

from genbench.api.dataset import ImageData  # noqa: E402
from genbench.data import load_dataset  # noqa: E402
from genbench.metrics import inception  # noqa: E402
from genbench.metrics.extractors.files import sha256_file  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--size", type=int, default=299, help="Inception input size (299; 75 is the smallest)")
    parser.add_argument("--dataset", default="mnist")
    args = parser.parse_args()
    import torch_fidelity
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    data = load_dataset(args.dataset)
    real = ImageData.to_float(data.test_x[: args.n])
    noisy = ImageData.to_float(data.train_x[: args.n]) + 0.3 * torch.rand(args.n, *data.info.shape)
    fake = torch.round(noisy.clamp(0, 1) * 255) / 255
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "random-inception.pth"
        random_inception_weights(weights, args.size)  # batch norm calibrated at the size used
        os.environ[inception.ENV_WEIGHTS] = str(weights)
        os.environ[inception.ENV_SHA256] = sha256_file(weights)
        with mock.patch.object(FeatureExtractorInceptionV3, "INPUT_IMAGE_SIZE", args.size), \
                mock.patch.object(inception, "INPUT_SIZE", args.size):  # fmt: skip
            ctx = context(real, fake, Path(tmp) / "cache")
            t0 = time.perf_counter()
            ours = {name: metric(name).compute(ctx).value for name in ("fid", "kid", "is")}
            t1 = time.perf_counter()
            theirs = torch_fidelity.calculate_metrics(
                input1=Uint8Images(fake), input2=Uint8Images(real), cuda=False, isc=True, fid=True, kid=True,
                feature_extractor_weights_path=str(weights), kid_subset_size=min(1000, args.n), rng_seed=ctx.seed,
                cache=False, verbose=False,
            )  # fmt: skip
            t2 = time.perf_counter()
    keys = {"fid": "frechet_inception_distance", "kid": "kernel_inception_distance_mean", "is": "inception_score_mean"}
    print(f"{args.n} real ({args.dataset} test) vs {args.n} noisy train images, Inception input {args.size}px, "
          f"random weights; genbench {t1 - t0:.0f} s, torch-fidelity {t2 - t1:.0f} s")  # fmt: skip
    print("| metric | genbench | torch-fidelity 0.4.0 | relative error |")
    print("| --- | --- | --- | --- |")
    for name, key in keys.items():
        rel = abs(ours[name] - theirs[key]) / abs(theirs[key])
        print(f"| {name} | {ours[name]:.8g} | {theirs[key]:.8g} | {rel:.1e} |")


if __name__ == "__main__":
    main()
