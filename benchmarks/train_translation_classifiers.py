"""Train the classifiers the translation metrics use, and write their weights files.

    GENBENCH_DATA=/path/to/data OMP_NUM_THREADS=1 \
        python benchmarks/train_translation_classifiers.py [--pair mnist2color] [--only domain]

One small classifier (genbench.metrics.extractors.classifier.SmallClassifier) per domain of each built-in
two-domain pair, trained on that domain's own training half only, written to
genbench/metrics/extractors/weights/clf-<pair>-<a|b>.pt; and one domain classifier per pair (A = 0,
B = 1), trained on both training halves, written to clf-<pair>-domain.pt (translate-domain-acc).
Prints the test accuracy and the sha256 of each file, which belongs in
genbench.metrics.translation.TRANSLATION_CLASSIFIER_SHA256.
Training is deterministic on the CPU for a given torch version and thread count.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from genbench.api.dataset import ImageData
from genbench.data import load_dataset
from genbench.metrics.extractors.classifier import save_classifier, train_classifier
from genbench.metrics.extractors.files import sha256_file
from genbench.metrics.translation import translation_weights_path

# The recipes of scripts/train_extractor.py for the underlying digit sets.
RECIPES: dict[str, dict[str, int]] = {
    "digits2color": {"epochs": 60, "max_shift": 1, "batch_size": 64},
    "mnist2color": {"epochs": 3, "max_shift": 0, "batch_size": 128},
}
# Telling the domains apart is easy: a few epochs (two-domain training sets of 1,437 and 60,000).
DOMAIN_RECIPES: dict[str, dict[str, int]] = {
    "digits2color": {"epochs": 10, "max_shift": 1, "batch_size": 64},
    "mnist2color": {"epochs": 1, "max_shift": 0, "batch_size": 128},
}


def domain_data(data: ImageData) -> ImageData:
    """Both domains of a pair as one labelled set: label 0 for A's images, 1 for B's."""
    train_b_x, _, test_b_x, _ = data.splits_b

    def labels(n_a: int, n_b: int) -> torch.Tensor:
        return torch.cat([torch.zeros(n_a, dtype=torch.long), torch.ones(n_b, dtype=torch.long)])

    return ImageData(
        f"{data.name}/domain",
        torch.cat([data.train_x, train_b_x]),
        labels(len(data.train_x), len(train_b_x)),
        torch.cat([data.test_x, test_b_x]),
        labels(len(data.test_x), len(test_b_x)),
        num_classes=2,
    )


def report(out: Path, accuracy: float, t0: float) -> None:
    print(
        f"  test accuracy {accuracy:.4f} after {time.perf_counter() - t0:.0f}s; wrote {out} "
        f"({out.stat().st_size} bytes)\n  sha256 {sha256_file(out)}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pair", choices=sorted(RECIPES), action="append", help="default: every pair")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=["labels", "domain"], help="default: both kinds")
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    for pair in args.pair or sorted(RECIPES):
        data = load_dataset(pair)
        if args.only != "labels":
            t0 = time.perf_counter()
            both = domain_data(data)
            print(f"{both.name}: {len(both.train_y)} train / {len(both.test_y)} test, recipe {DOMAIN_RECIPES[pair]}")
            model, accuracy = train_classifier(both, seed=args.seed, log=False, **DOMAIN_RECIPES[pair])
            out = translation_weights_path(pair, "domain")
            save_classifier(model, out, dataset=f"{pair}-domain", test_accuracy=accuracy)
            report(out, accuracy, t0)
        if args.only == "domain":
            continue
        for domain in ("a", "b"):
            t0 = time.perf_counter()
            one = data.domain(domain)
            print(
                f"{one.name}: {len(one.train_y)} train / {len(one.test_y)} test, recipe {RECIPES[pair]}, "
                f"torch {torch.__version__}, {torch.get_num_threads()} threads",
                flush=True,
            )
            model, accuracy = train_classifier(one, seed=args.seed, log=False, **RECIPES[pair])
            out = translation_weights_path(pair, domain)
            save_classifier(model, out, dataset=f"{pair}-{domain}", test_accuracy=accuracy)
            report(out, accuracy, t0)


if __name__ == "__main__":
    main()
