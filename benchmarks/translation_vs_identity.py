"""Label preservation of trained translators, paired with doing nothing on the same test images.

    GENBENCH_DATA=/path/to/data python benchmarks/translation_vs_identity.py \\
        --results-dir /tmp/cyclegan-results RUN [RUN ...]

For each run and direction (a2b, b2a) it translates the first ``--count`` test images of the
source domain (the benchmark's quick protocol: 5,000) and has the shipped target-domain label
classifier (the one ``translate-acc`` uses, pinned by sha256) read three things for each image:
the translation, the untouched source image (the identity's translation) and the image's known
counterpart in the target domain (the right answer). It prints the three accuracies, the
discordant pairs against the identity (images only the translation keeps, images only the
identity keeps) with the exact two-sided sign test on them, and so says how far above the
identity the classifier leaves room to go: a translation that keeps every label can at most
match what the classifier reads on the true counterparts.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch

from genbench.api.dataset import ImageData
from genbench.engine.runner import Runner
from genbench.metrics.extractors.classifier import load_classifier
from genbench.metrics.translation import TRANSLATION_CLASSIFIER_SHA256, translation_weights_path


def sign_test(wins: int, losses: int) -> float:
    """Exact two-sided p-value of ``wins`` against ``losses`` discordant pairs under p = 1/2."""
    n = wins + losses
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(wins, losses) + 1)) / 2**n
    return min(1.0, 2 * tail)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run ids of translators (a unique prefix will do)")
    parser.add_argument("--results-dir", default="results")
    parser.add_argument("--count", type=int, default=5000, help="test images per direction")
    args = parser.parse_args()
    torch.set_num_threads(1)
    runner = Runner(Path(args.results_dir))
    print("run       dir  translation  identity  counterpart  only-translation  only-identity  sign-test p")
    for run_id in args.runs:
        model, data = runner.load_trained(run_id)
        model.eval()
        for direction, source, target, labels, side in (
            ("a2b", data.test_x, data.test_b_x, data.test_y, "b"),
            ("b2a", data.test_b_x, data.test_x, data.test_b_y, "a"),
        ):
            if source is None or target is None or labels is None:
                raise SystemExit(f"run {run_id}: '{data.name}' has no paired test images to compare with")
            key = f"{data.name}-{side}"
            if key not in TRANSLATION_CLASSIFIER_SHA256:
                raise SystemExit(f"run {run_id}: no label classifier is shipped for '{key}'")
            clf, _ = load_classifier(
                key, path=translation_weights_path(data.name, side), sha256=TRANSLATION_CLASSIFIER_SHA256[key]
            )
            x, truth, y = ImageData.to_float(source[: args.count]), ImageData.to_float(target[: args.count]), labels
            y = y[: args.count]
            with torch.no_grad():
                moved = torch.cat([model.translate(x[i : i + 500], direction) for i in range(0, len(x), 500)])
                moved = torch.round(moved * 255) / 255  # 8-bit, as translate-acc reads them
                kept = clf(moved).argmax(1) == y  # (N,) the translation keeps the label
                kept_id = clf(x).argmax(1) == y  # doing nothing keeps it
                kept_truth = clf(truth).argmax(1) == y  # the classifier reads the right answer
            wins, losses = int((kept & ~kept_id).sum()), int((~kept & kept_id).sum())
            print(
                f"{run_id[:8]}  {direction}  {kept.double().mean():11.4f}  {kept_id.double().mean():8.4f}  "
                f"{kept_truth.double().mean():11.4f}  {wins:16d}  {losses:13d}  {sign_test(wins, losses):11.3f}"
            )


if __name__ == "__main__":
    main()
