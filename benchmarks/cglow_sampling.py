"""How many of a cglow checkpoint's class-conditional samples the inverse flow blows up, and what each kind scores.

    GENBENCH_DATA=... .venv/bin/python benchmarks/cglow_sampling.py --checkpoint RUN_DIR/checkpoint.pt \
        [--dataset mnist] [--min-scale 0.35] [--samples 500] [--temperature 1.0]

A sample counts as blown up when its flow output y (before the 8-bit rounding; the data's y lies
in [-0.5, 0.5]) leaves [-2, 2] anywhere. For each kind the shipped classifier's accuracy against
the asked-for class (cond-acc) is printed, and the same once more with the top latent at its class
mean (split latents still drawn at the temperature), and the largest |h| after each layer of the
inverse (median over samples), which shows where the values run away. ``--min-scale`` must be the
floor the checkpoint was trained with: 0 for cglow 0.1.0 (genbench-flow before 0.2.0), 0.35 after.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import torch
from genbench_flow.dequantization import postprocess, to_image
from genbench_flow.glow import ConditionalGlow
from genbench_flow.layers import AffineCoupling, Split

from genbench.api import randn_tensor
from genbench.data import load_dataset
from genbench.engine.checkpoint import load_checkpoint
from genbench.metrics.extractors.classifier import load_classifier

BLOWN_UP = 2.0


def draw(model: ConditionalGlow, labels: torch.Tensor, t_top: float, t: float, trace: bool) -> torch.Tensor:
    """y of class-conditional samples, the top latent at temperature ``t_top``, the splits at ``t``."""
    gen = torch.Generator().manual_seed(1)
    n = labels.shape[0]
    mean, logs = model._top_params(n, labels, torch.zeros(()))
    h = mean + t_top * torch.exp(logs) * randn_tensor(tuple(mean.shape), generator=gen)
    noise = iter([randn_tensor((n, *s), generator=gen) for s in reversed(model.split_shapes)])
    for i, layer in zip(reversed(range(len(model.layers))), reversed(model.layers)):
        if isinstance(layer, Split):
            h = layer.inverse(h, None, temperature=t, noise=next(noise), labels=labels)
        elif isinstance(layer, AffineCoupling):
            h = layer.inverse(h, model._label_map(labels, h))
        else:
            h = layer.inverse(h)
        h = h.clamp(-1e4, 1e4)  # as FlowModel.sample
        if trace:
            print(f"  layer {i:2d} {type(layer).__name__:14s} median max|h| {h.flatten(1).abs().amax(1).median():.3g}")
    return h


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--min-scale", type=float, default=0.35)
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--trace", action="store_true", help="print the largest |h| after every layer")
    args = parser.parse_args()
    torch.set_num_threads(1)

    data = load_dataset(args.dataset)
    config = dataclasses.replace(ConditionalGlow.default_config(data.info), min_scale=args.min_scale)
    model = ConditionalGlow(config, data.info)
    model.load_state_dict(load_checkpoint(Path(args.checkpoint))["model"])
    model.eval()
    classifier, _ = load_classifier(args.dataset)
    labels = torch.arange(args.samples) % data.info.num_classes
    t = args.temperature
    with torch.no_grad():
        for name, t_top in ((f"T = {t}", t), ("top latent at its class mean", 0.0)):
            y = draw(model, labels, t_top, t, args.trace and t_top == t)
            bad = y.flatten(1).abs().amax(1) > BLOWN_UP
            hit = classifier(to_image(postprocess(y, "center", 0.0))).argmax(1) == labels
            rate = lambda mask: f"{hit[mask].double().mean():.3f}" if mask.any() else "-"  # noqa: E731
            print(
                f"{name}: blown up {bad.double().mean():.3f} of {args.samples}; cond-acc {hit.double().mean():.3f} "
                f"(clean {rate(~bad)}, blown up {rate(bad)})"
            )


if __name__ == "__main__":
    main()
