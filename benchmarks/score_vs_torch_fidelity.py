"""`genbench score` on a folder of 10,000 MNIST-size images, against torch-fidelity's command line.

    GENBENCH_DATA=/work/shared/data OMP_NUM_THREADS=1 .venv/bin/python benchmarks/score_vs_torch_fidelity.py \
        --n 10000 --inception-n 200

1. writes the first n MNIST training images as PNG files (a folder any tool reads);
2. times ``genbench score FOLDER --benchmark mnist`` (the classifier metrics, offline) with an
   empty results folder (reference features computed) and again (reference features cached);
3. runs ``fidelity --input1 FOLDER --input2 FOLDER --fid`` as torch-fidelity's users do: it needs
   the Inception weights, which cannot be downloaded here, so the line it fails with is printed;
4. times what both tools do on that folder without weights: reading and decoding the n PNG files
   (genbench's reader against torch-fidelity's ImagesPathDataset through a DataLoader);
5. with the same features: a random-weights Inception file of torch-fidelity's architecture
   (tests/test_metrics_inception.py) loaded by both, FID between two folders of ``inception-n``
   images, ``fidelity`` on the command line against genbench's reader, Inception extractor and
   Fréchet distance (``genbench score`` itself needs the benchmark's 10,000 reference images,
   20,000 Inception passes at 299x299 on a CPU core: hours). Prints values, seconds and ratios.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "tests"))


def write_folder(folder: Path, n: int, offset: int = 0) -> Path:
    from genbench.data import load_dataset
    from genbench.engine.sample_files import write_samples

    if folder.is_dir() and len(list(folder.glob("*.png"))) == n:
        return folder
    x = load_dataset("mnist", os.environ.get("GENBENCH_DATA")).train_x[offset : offset + n]
    write_samples(x.contiguous(), None, folder)
    return folder


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, subprocess.CompletedProcess[str]]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    return time.perf_counter() - t0, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--inception-n", type=int, default=200, help="images per folder in step 5; 0 skips it")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "genbench-score-bench")
    args = parser.parse_args()
    torch.set_num_threads(1)
    folder = write_folder(args.work / f"mnist{args.n}", args.n)
    print(f"folder: {folder} ({args.n:,} PNG files, 28x28 grayscale), torch threads 1")

    # 2. genbench score, cold and warm.
    results = args.work / "results"
    subprocess.run(["rm", "-rf", str(results)], check=True)
    score = [str(BIN / "genbench"), "score", str(folder), "--benchmark", "mnist", "--threads", "1",
             "--results-dir", str(results)]  # fmt: skip
    cold, out = timed(score)
    assert out.returncode == 0, out.stderr
    warm, out = timed([*score[:-2], "--results-dir", str(results), "--name", "again"])
    assert out.returncode == 0, out.stderr
    print(f"genbench score: {cold:.1f} s with an empty cache, {warm:.1f} s with the reference features cached")
    print(out.stdout)

    # 3. torch-fidelity as its users run it.
    secs, out = timed([str(BIN / "fidelity"), "--input1", str(folder), "--input2", str(folder), "--fid", "--cpu"],
                      {"TORCH_HOME": str(args.work / "torch-home")})  # fmt: skip
    last = (out.stderr.strip().splitlines() or ["(no output)"])[-1]
    print(f"fidelity --fid: exit {out.returncode} after {secs:.1f} s: {last[:200]}")

    # 4. reading the folder.
    from torch.utils.data import DataLoader
    from torch_fidelity.datasets import ImagesPathDataset

    from genbench.engine.sample_files import read_samples

    t0 = time.perf_counter()
    ours = read_samples(folder, (1, 28, 28), 10)
    t_ours = time.perf_counter() - t0
    files = sorted(str(p) for p in folder.glob("*.png"))
    t0 = time.perf_counter()
    theirs = torch.cat(list(DataLoader(ImagesPathDataset(files), batch_size=64, num_workers=0)))
    t_theirs = time.perf_counter() - t0
    assert torch.equal(theirs[:, :1], ours.images)  # the same pixels (torch-fidelity converts to RGB)
    print(f"reading {args.n:,} PNGs: genbench {t_ours:.2f} s, torch-fidelity {t_theirs:.2f} s "
          f"(ratio {t_theirs / t_ours:.2f})")  # fmt: skip

    if args.inception_n:
        same_features(args.work, args.inception_n)


def same_features(work: Path, n: int) -> None:
    from test_metrics_inception import random_inception_weights

    from genbench.engine.sample_files import read_samples
    from genbench.metrics.extractors.files import sha256_file
    from genbench.metrics.extractors.stats import frechet_distance, gaussian_stats
    from genbench.metrics.inception import InceptionExtractor

    a, b = write_folder(work / f"a{n}", n), write_folder(work / f"b{n}", n, offset=n)
    weights = work / "random-inception-299.pth"
    if not weights.is_file():
        random_inception_weights(weights, size=299)  # batch norm calibrated at the size both tools feed it
    cmd = [str(BIN / "fidelity"), "--input1", str(a), "--input2", str(b), "--fid", "--cpu", "--no-cache",
           "--feature-extractor-weights-path", str(weights)]  # fmt: skip
    secs_theirs, out = timed(cmd)
    assert out.returncode == 0, out.stderr
    fid_theirs = float(out.stdout.strip().splitlines()[-1].split(":")[-1])
    t0 = time.perf_counter()
    extractor = InceptionExtractor(path=weights, sha256=sha256_file(weights))
    stats = []
    for folder in (a, b):
        x = read_samples(folder, (1, 28, 28), 10).images.float() / 255
        stats.append(gaussian_stats(extractor.extract(x, torch.device("cpu"))["features"]))
    fid_ours = frechet_distance(*stats[0], *stats[1])
    secs_ours = time.perf_counter() - t0
    print(f"FID of two {n}-image folders, random-weights Inception: genbench {fid_ours:.6g} in {secs_ours:.1f} s, "
          f"fidelity {fid_theirs:.6g} in {secs_theirs:.1f} s (ratio {secs_theirs / secs_ours:.2f}, "
          f"relative difference {abs(fid_ours - fid_theirs) / abs(fid_theirs):.1e})")  # fmt: skip


if __name__ == "__main__":
    main()
