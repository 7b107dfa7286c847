"""DDPM training images/s and model FLOPs utilisation: genbench (eager, compiled) against diffusers' UNet2DModel.

    .venv/bin/python benchmarks/train_throughput.py --device cuda --json ddpm-speed.json
    .venv/bin/python benchmarks/train_throughput.py --preset tiny --batch 8 --steps 3 --device cpu

One process measures every contender at the same U-Net size, batch and precision:

- ``genbench``: genbench's DDPM ``training_step`` as ``genbench run`` executes it (timesteps,
  noise, label dropout for guidance, U-Net forward, ε-MSE, backward, Adam, EMA update);
- ``genbench-compiled``: the same with ``--set compile=MODE`` (``--compile-mode``);
- ``diffusers``: diffusers' ``UNet2DModel`` built to the same architecture (channel multipliers,
  ResNet blocks per level, attention resolutions, dropout, class embedding with a null label,
  single-head attention), trained the way diffusers' own example trains it: ``DDPMScheduler.add_noise``,
  the same ε-MSE loss and label dropout, the same Adam (fused on CUDA), ``EMAModel(foreach=True)``;
- ``diffusers-compiled`` on request (``--contenders``).

Both U-Nets' parameter counts and FLOPs per image are printed, so the reader sees that the two
architectures are the same (35,751,939 parameters for the ``paper`` preset, Ho et al.'s CIFAR-10
model plus an 11-entry label embedding). The batches are random 8-bit images with random labels at
CIFAR-10's shape (a step costs the same whatever the pixels are), so no data files are needed.

Contenders are interleaved: each is warmed up (compilation, cuDNN autotuning, allocator growth),
then ``--rounds`` rounds each time every contender for ``--steps`` steps in turn; the table shows
the median round. FLOPs of one training step are counted with ``torch.utils.flop_counter`` on the
eager genbench step (forward and backward; the optimizer's elementwise work is not counted);
MFU = counted FLOP/s / the GPU's dense peak for the precision (a table by GPU name, or ``--peak-tflops``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from genbench_diffusion.ddpm import DDPM, DDPMConfig
from genbench_diffusion.speed import adam
from genbench_diffusion.unet import group_norm
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from genbench.api.dataset import DataInfo
from genbench.api.model import Batch, StepContext
from genbench.config import apply_overrides
from genbench.engine.device import resolve_device

CIFAR10 = DataInfo("cifar10", (3, 32, 32), 10)

# Dense peak TFLOP/s by GPU name (first match wins): (bf16, tf32, fp32 without tensor cores). SXM
# figures from NVIDIA's data sheets; sparse "up to" figures are twice these.
PEAK_TFLOPS: list[tuple[str, tuple[float, float, float]]] = [
    ("H100 PCIe", (756.0, 378.0, 51.2)),
    ("H100 NVL", (835.0, 418.0, 60.0)),
    ("H200", (989.0, 494.0, 67.0)),
    ("H100", (989.0, 494.0, 67.0)),
    ("A100", (312.0, 156.0, 19.5)),
]

HINT = "diffusers is not installed: pip install 'genbench-diffusion[bench]' to compare with it; measuring genbench only"


@dataclass
class Contender:
    name: str
    params: int
    step: Callable[[Batch, int], None]  # one training step on a batch, at a step number


def genbench_ddpm(preset: str, compile: str, channels_last: bool) -> DDPM:
    """genbench's DDPM at CIFAR-10's shape with the named preset (``paper`` = Ho et al.'s 35.7M model)."""
    overrides = {"preset": preset, "compile": compile, "channels_last": str(channels_last)}
    return DDPM(apply_overrides(DDPM.default_config(CIFAR10), overrides), CIFAR10)


def diffusers_unet(config: DDPMConfig, info: DataInfo) -> nn.Module:
    """diffusers' UNet2DModel with the architecture of genbench's U-Net under ``config``.

    Level i has ``ch * ch_mult[i]`` channels and ``num_res_blocks`` ResNet blocks down (one more up),
    attention after each block at the levels in ``attn_levels`` and in the middle, a strided 3x3
    convolution down and nearest + 3x3 convolution up between levels, single-head attention
    (``attention_head_dim=None``: one head of all channels), and the sinusoidal embedding laid out
    as genbench's (sin first, frequencies over half - 1). GroupNorm takes one group count here; it
    has the same parameters whatever the count, and the paper preset uses 32 everywhere in both.
    """
    from diffusers import UNet2DModel

    arch = config.architecture()
    c, h, _ = info.shape
    levels = range(len(arch["ch_mult"]))
    down = tuple("AttnDownBlock2D" if i in arch["attn_levels"] else "DownBlock2D" for i in levels)
    return UNet2DModel(
        sample_size=h,
        in_channels=c,
        out_channels=c,
        block_out_channels=tuple(arch["ch"] * m for m in arch["ch_mult"]),
        layers_per_block=arch["num_res_blocks"],
        down_block_types=down,
        up_block_types=tuple(d.replace("Down", "Up") for d in reversed(down)),
        dropout=arch["dropout"],
        attention_head_dim=None,
        norm_num_groups=group_norm(arch["ch"]).num_groups,
        num_class_embeds=info.num_classes + 1 if info.num_classes else None,  # + the null label
        flip_sin_to_cos=False,
        freq_shift=1,
    )


def genbench_contender(name: str, args: argparse.Namespace, amp: str, device: torch.device, compile: str) -> Contender:
    torch.manual_seed(0)
    model = genbench_ddpm(args.preset, compile, args.channels_last).to(device).train()
    ctx = StepContext(model.configure_optimizers(), device=device, amp=amp)

    def step(batch: Batch, i: int) -> None:
        ctx.step = i
        model.training_step(batch, ctx)

    return Contender(name, sum(p.numel() for p in model.unet.parameters()), step)


def diffusers_contender(name: str, args: argparse.Namespace, amp: str, device: torch.device, compile: str) -> Contender:
    from diffusers import DDPMScheduler
    from diffusers.training_utils import EMAModel

    torch.manual_seed(0)
    config = genbench_ddpm(args.preset, "off", False).config
    unet = diffusers_unet(config, CIFAR10).to(device).train()
    if args.channels_last:
        unet.to(memory_format=torch.channels_last)
    if compile != "off":
        unet.compile(mode=None if compile == "default" else compile)
    scheduler = DDPMScheduler(
        num_train_timesteps=config.timesteps, beta_start=config.beta_start, beta_end=config.beta_end
    )
    ema = EMAModel(unet.parameters(), decay=config.ema_decay, foreach=True)
    ctx = StepContext({"unet": adam(unet.parameters(), config.lr)}, device=device, amp=amp)
    null = CIFAR10.num_classes

    def step(batch: Batch, i: int) -> None:
        x0 = batch.x * 2 - 1
        b = x0.shape[0]
        t = torch.randint(0, config.timesteps, (b,), device=device)
        noise = torch.randn_like(x0)
        x_t = scheduler.add_noise(x0, noise, t)
        if args.channels_last:
            x_t = x_t.contiguous(memory_format=torch.channels_last)
        drop = torch.rand(b, device=device) < config.p_uncond
        y = torch.where(drop, torch.full_like(batch.y, null), batch.y)
        with ctx.autocast():
            eps = unet(x_t, t, class_labels=y).sample
        loss = F.mse_loss(eps.float(), noise)
        ctx.optimize(loss, "unet")
        ema.step(unet.parameters())

    return Contender(name, sum(p.numel() for p in unet.parameters()), step)


def make_contender(name: str, args: argparse.Namespace, amp: str, device: torch.device) -> Contender:
    compile = args.compile_mode if name.endswith("-compiled") else "off"
    if name.startswith("genbench"):
        return genbench_contender(name, args, amp, device, compile)
    return diffusers_contender(name, args, amp, device, compile)


def random_batches(batch_size: int, device: torch.device, n: int = 4) -> list[Batch]:
    gen = torch.Generator().manual_seed(0)
    return [
        Batch(
            (torch.randint(0, 256, (batch_size, *CIFAR10.shape), generator=gen).float() / 255).to(device),
            torch.randint(0, CIFAR10.num_classes, (batch_size,), generator=gen).to(device),
        )
        for _ in range(n)
    ]


def step_flops(contender: Contender, batch: Batch) -> int:
    """FLOPs of one training step (matrix products, convolutions, attention; forward and backward).

    Attention runs on the math kernel while counting: the counter has no formula for the CPU's
    fused attention kernel, so the count would otherwise depend on the device.
    """
    with FlopCounterMode(display=False) as counter, sdpa_kernel(SDPBackend.MATH):
        contender.step(batch, 0)
    return counter.get_total_flops()


def peak_tflops(device: torch.device, amp: str, override: float) -> float | None:
    """The dense peak for the step's precision; fp32 uses the TF32 peak when cuDNN may use TF32
    for convolutions (PyTorch's default), since convolutions are most of the U-Net's FLOPs."""
    if override:
        return override
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, (bf16, tf32, fp32) in PEAK_TFLOPS:
        if key in name:
            if amp != "none":
                return bf16
            return tf32 if torch.backends.cudnn.allow_tf32 else fp32
    return None


def measure(
    contenders: list[Contender], batches: list[Batch], args: argparse.Namespace, sync: Callable[[], None]
) -> dict[str, list[float]]:
    """Images/s of each contender in every round; contenders take turns within each round."""
    step_no = 1
    for c in contenders:
        for i in range(args.warmup):
            c.step(batches[i % len(batches)], step_no + i)
    sync()
    rates: dict[str, list[float]] = {c.name: [] for c in contenders}
    for _ in range(args.rounds):
        for c in contenders:
            sync()
            t0 = time.perf_counter()
            for i in range(args.steps):
                c.step(batches[i % len(batches)], step_no + i)
            sync()
            rates[c.name].append(args.steps * batches[0].x.shape[0] / (time.perf_counter() - t0))
        step_no += args.steps
    return rates


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as a table that fits in 80 columns."""
    head = (
        f"{'prec':<5} {'batch':>5}  {'contender':<18} {'images/s':>9} {'ms/step':>8} {'TFLOP/s':>8} {'MFU':>6}"
        f"  {'/diffusers':>10}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] is not None else "-"
        vs = f"{r['vs_diffusers']:.2f}x" if r["vs_diffusers"] is not None else "-"
        lines.append(
            f"{r['precision']:<5} {r['batch']:>5}  {r['contender']:<18} {r['images_per_s']:>9.1f} "
            f"{r['ms_per_step']:>8.1f} {r['tflops_per_s']:>8.2f} {mfu:>6}  {vs:>10}"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="paper", choices=["tiny", "small", "paper"], help="ddpm U-Net preset")
    p.add_argument("--batch", default="64,128,256", help="comma-separated batch sizes")
    p.add_argument("--precisions", default="fp32,bf16", help="comma-separated: fp32, bf16 (autocast)")
    p.add_argument(
        "--contenders",
        default="genbench,genbench-compiled,diffusers",
        help="comma-separated from genbench, genbench-compiled, diffusers, diffusers-compiled",
    )
    p.add_argument("--compile-mode", default="default", choices=["default", "reduce-overhead", "max-autotune"])
    p.add_argument("--channels-last", action="store_true", help="NHWC weights and inputs for every contender")
    p.add_argument("--steps", type=int, default=20, help="timed steps per contender per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--warmup", type=int, default=5, help="untimed steps per contender (compilation happens here)")
    p.add_argument("--peak-tflops", type=float, default=0.0, help="dense peak for MFU; default: by GPU name")
    p.add_argument("--device", default="auto")
    p.add_argument("--json", default="", help="also write the rows and the setup to this file")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    args = parse_args(argv)
    device = resolve_device(args.device)
    names = [n for n in args.contenders.split(",") if n]
    unknown = set(names) - {"genbench", "genbench-compiled", "diffusers", "diffusers-compiled"}
    if unknown:
        sys.exit(f"unknown contender(s) {', '.join(sorted(unknown))}")
    try:
        import diffusers
    except ImportError:
        diffusers = None  # type: ignore[assignment]
        print(HINT)
        names = [n for n in names if not n.startswith("diffusers")]
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        where = f"{torch.cuda.get_device_name(device)}, cuDNN TF32 {torch.backends.cudnn.allow_tf32}"
    else:
        where = f"cpu ({torch.get_num_threads()} threads)"
    versions = f"torch {torch.__version__}" + (f", diffusers {diffusers.__version__}" if diffusers else "")
    print(f"device: {where}; {versions}")
    print(f"ddpm preset {args.preset!r} at 3x32x32, random 8-bit images and labels")
    print(f"{args.steps} timed steps x {args.rounds} rounds (median shown) after {args.warmup} warm-up steps")
    print(f"compile mode {args.compile_mode!r} for *-compiled; channels_last {args.channels_last}")

    # Parameters and FLOPs per image of each network, counted once on an eager fp32 step (the count
    # depends on neither precision nor batch); compiled contenders run the same FLOPs.
    setup: dict[str, Any] = {}
    for family in dict.fromkeys(n.removesuffix("-compiled") for n in names):
        counted = make_contender(family, args, "none", device)
        flops = step_flops(counted, random_batches(2, device, n=1)[0]) / 2
        setup[family] = {"parameters": counted.params, "train_gflop_per_image": flops / 1e9}
        print(f"{family + ' U-Net:':<16} {counted.params:>12,} parameters, {flops / 1e9:.3f} GFLOP per image (train)")
        del counted
    print()
    print(table([]))

    rows: list[dict[str, Any]] = []
    for batch_size in (int(b) for b in args.batch.split(",") if b):
        for precision in (p for p in args.precisions.split(",") if p):
            amp = {"fp32": "none", "bf16": "bf16"}[precision]
            contenders = [make_contender(n, args, amp, device) for n in names]
            batches = random_batches(batch_size, device)
            rates = measure(contenders, batches, args, sync)
            peak = peak_tflops(device, amp, args.peak_tflops)
            base = statistics.median(rates["diffusers"]) if "diffusers" in rates else None
            group = []
            for c in contenders:
                rate = statistics.median(rates[c.name])
                per_image = setup[c.name.removesuffix("-compiled")]["train_gflop_per_image"] * 1e9
                achieved = rate * per_image / 1e12
                group.append(
                    {
                        "contender": c.name,
                        "precision": precision,
                        "batch": batch_size,
                        "parameters": c.params,
                        "images_per_s": rate,
                        "rounds_images_per_s": rates[c.name],
                        "ms_per_step": 1000 * batch_size / rate,
                        "train_gflop_per_image": per_image / 1e9,
                        "tflops_per_s": achieved,
                        "peak_tflops": peak,
                        "mfu": achieved / peak if peak else None,
                        "vs_diffusers": rate / base if base else None,
                    }
                )
            print("\n".join(table(group).splitlines()[2:]), flush=True)
            rows += group
            del contenders, batches
            if device.type == "cuda":
                torch.cuda.empty_cache()
    if args.json:
        info = {"device": where, "versions": versions, "args": vars(args), "models": setup, "rows": rows}
        with open(args.json, "w") as f:
            json.dump(info, f, indent=1)
        print(f"\nwrote {args.json}")
    return rows


if __name__ == "__main__":
    main()
