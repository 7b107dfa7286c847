"""benchmarks/train_throughput.py: diffusers' UNet2DModel is built to our architecture, and the script runs."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

pytest.importorskip("diffusers", reason="diffusers is the optional extra genbench-diffusion[bench]")

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "train_throughput.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("train_throughput", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def forward_flops(fn) -> int:  # type: ignore[no-untyped-def]
    with FlopCounterMode(display=False) as counter, sdpa_kernel(SDPBackend.MATH), torch.no_grad():
        fn()
    return counter.get_total_flops()


@pytest.mark.parametrize("preset", ["tiny", "small"])
def test_diffusers_unet_has_our_architecture(bench: ModuleType, preset: str) -> None:
    ours = bench.genbench_ddpm(preset, "off", False)
    theirs = bench.diffusers_unet(ours.config, bench.CIFAR10)
    count = sum(p.numel() for p in ours.unet.parameters())
    assert count == sum(p.numel() for p in theirs.parameters())
    # Equal parameter counts could hide a different layout; equal FLOPs for the same input too
    # (every convolution, projection and attention product in the same place and size) do not.
    x, t, y = torch.randn(2, 3, 32, 32), torch.tensor([3, 700]), torch.tensor([1, 10])
    ours_flops = forward_flops(lambda: ours.unet(x, t, y))
    assert ours_flops == forward_flops(lambda: theirs(x, t, class_labels=y).sample)
    assert ours_flops > 0


def test_paper_preset_matches_in_size(bench: ModuleType) -> None:
    with torch.device("meta"):
        ours = bench.genbench_ddpm("paper", "off", False)
        theirs = bench.diffusers_unet(ours.config, bench.CIFAR10)
    # Ho et al.'s 35,746,307 plus the 11 x 512 label embedding (10 classes and the null label).
    assert sum(p.numel() for p in theirs.parameters()) == sum(p.numel() for p in ours.unet.parameters()) == 35_751_939


def test_benchmark_runs_end_to_end_on_the_cpu(bench: ModuleType, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "speed.json"
    argv = ["--preset", "tiny", "--batch", "2", "--steps", "1", "--rounds", "2", "--warmup", "1", "--device", "cpu"]
    rows = bench.main([*argv, "--contenders", "genbench,diffusers", "--precisions", "fp32", "--json", str(out)])
    printed = capsys.readouterr().out
    shown = [line for line in printed.splitlines() if not line.startswith("wrote ")]  # a long tmp path
    assert all(len(line) <= 80 for line in shown), "the report must fit in 80 columns"
    saved = json.loads(out.read_text())
    assert saved["rows"] == rows and [r["contender"] for r in rows] == ["genbench", "diffusers"]
    models = saved["models"]
    assert models["genbench"]["parameters"] == models["diffusers"]["parameters"] == 703_907
    assert models["genbench"]["train_gflop_per_image"] == pytest.approx(models["diffusers"]["train_gflop_per_image"])
    for r in rows:
        assert r["images_per_s"] > 0 and len(r["rounds_images_per_s"]) == 2 and r["mfu"] is None  # no CPU peak
    assert rows[1]["vs_diffusers"] == 1.0 and rows[0]["vs_diffusers"] > 0
    assert "703,907 parameters" in printed
