"""Degradation operators, their measurements, and the reconstruction metrics on known inputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from genbench.api.restoration import Degradation, restoration_context
from genbench.benchmarks import load_benchmark
from genbench.errors import GenbenchError
from genbench.metrics.restoration import coverage, diversity, ssim, std_error_correlation
from genbench.plugins import get_plugins


def images(n: int = 6, c: int = 1, h: int = 8, w: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.rand((n, c, h, w), generator=torch.Generator().manual_seed(seed))


def test_noise_adds_sigma_and_a_seed_fixes_it() -> None:
    x = images(200)
    op = Degradation("noise", sigma=0.3)
    m = op.measure(x, torch.Generator().manual_seed(1))
    again = op.measure(x, torch.Generator().manual_seed(1))
    other = op.measure(x, torch.Generator().manual_seed(2))
    assert torch.equal(m.y, again.y) and not torch.equal(m.y, other.y)
    assert abs(float((m.y - x).std()) - 0.3) < 0.01
    assert torch.equal(m.fill(), m.y.clamp(0, 1))
    # The truth is consistent with its measurement up to the noise: RMS residual ~ sigma.
    assert abs(float(m.residual(x).mean()) - 0.3) < 0.02


def test_inpaint_masks_about_rate_and_fills_holes_with_the_observed_mean() -> None:
    x = images(100)
    m = Degradation("inpaint", rate=0.6).measure(x, torch.Generator().manual_seed(0))
    assert m.mask is not None and m.mask.shape == (100, 1, 8, 8)
    assert abs(1 - float(m.mask.mean()) - 0.6) < 0.03
    assert torch.equal(m.y, x * m.mask)
    filled = m.fill()
    seen = m.mask.bool().expand_as(x)
    assert torch.equal(filled[seen], x[seen])
    mean0 = x[0][seen[0]].mean()
    torch.testing.assert_close(filled[0][~seen[0]], mean0.expand(int((~seen[0]).sum())))
    assert float(m.residual(x).abs().max()) == 0.0  # the truth agrees with every measured pixel
    assert m.condition().shape == (100, 2, 8, 8)


def test_box_hides_the_central_square() -> None:
    x = images(2, h=28, w=28)
    m = Degradation("box", size=0.5).measure(x)
    assert m.mask is not None
    hidden = (m.mask[0, 0] == 0).nonzero()
    assert int(hidden[:, 0].min()) == 7 and int(hidden[:, 0].max()) == 20 and len(hidden) == 14 * 14


def test_downsample_average_pools_and_upsamples_by_nearest() -> None:
    x = images(3, c=3, h=8, w=8)
    m = Degradation("downsample", factor=2).measure(x)
    assert m.y.shape == (3, 3, 4, 4)
    torch.testing.assert_close(m.y, F.avg_pool2d(x, 2))
    assert torch.equal(m.fill()[:, :, ::2, ::2], m.y)
    assert torch.equal(m.fill()[:, :, 1::2, 1::2], m.y)
    stacked = torch.stack([x, x], dim=1)  # K = 2 samples equal to the truth: no residual
    assert float(m.residual(stacked).abs().max()) < 1e-6
    with pytest.raises(GenbenchError, match="divisible"):
        Degradation("downsample", factor=3).measure(x)


def test_restoration_context_draws_the_same_measurements_every_time() -> None:
    test_x = (images(20) * 255).to(torch.uint8)
    raw = {"op": "inpaint", "rate": 0.5, "seed": 3}
    a, b = restoration_context(raw, test_x, 10, 4), restoration_context(raw, test_x, 10, 4)
    assert len(a.truth) == 10 and a.measurements.mask is not None and b.measurements.mask is not None
    assert torch.equal(a.measurements.mask, b.measurements.mask)
    fp = a.fingerprint()
    assert fp["operator"] == "inpaint" and fp["rate"] == 0.5 and fp["measurement_seed"] == 3
    assert fp["test_images"] == 10 and fp["posterior_samples"] == 4


def test_benchmark_declares_and_validates_its_operator(tmp_path: Path) -> None:
    bench = get_plugins().benchmarks["digits-denoise"]
    assert bench.degradation == {"op": "noise", "sigma": 0.3, "seed": 0}
    assert bench.restore_samples == 16 and "restore-psnr" in bench.metrics
    names = set(get_plugins().benchmarks)
    for expected in ("digits-inpaint", "mnist-denoise", "mnist-inpaint", "mnist-sr4", "fashion-mnist-inpaint",
                     "cifar10-denoise", "cifar10-sr4"):  # fmt: skip
        assert expected in names
    text = Path(bench.path).read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("op: noise, sigma: 0.3", "op: blur, sigma: 0.3"))
    with pytest.raises(GenbenchError, match="blur"):
        load_benchmark(bad)
    bad.write_text(text.replace("sigma: 0.3", "sigma: -1"))
    with pytest.raises(GenbenchError, match="sigma"):
        load_benchmark(bad)


def test_ssim_equals_torchmetrics() -> None:
    from torchmetrics.functional.image import structural_similarity_index_measure as tm_ssim

    for shape in ((4, 1, 28, 28), (3, 3, 32, 32), (5, 1, 8, 8)):
        x = torch.rand(shape, generator=torch.Generator().manual_seed(0))
        y = (x + 0.2 * torch.randn(shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
        ref = tm_ssim(x.double(), y.double(), sigma=1.5, data_range=1.0, reduction="none")
        torch.testing.assert_close(ssim(x, y), ref.double(), rtol=1e-6, atol=1e-8)
    assert float(ssim(x, x).min()) == pytest.approx(1.0)


def test_coverage_diversity_and_correlation_on_known_samples() -> None:
    # Samples 0..19 / 19 at every pixel: the central 90% interval is [0.05, 0.95] by linear interpolation.
    k = torch.linspace(0, 1, 20)
    samples = k.view(1, 20, 1, 1, 1).expand(1, 20, 1, 2, 2).clone()
    truth = torch.tensor([[[[0.0, 0.5], [0.96, 0.94]]]])
    assert float(coverage(samples, truth)[0]) == pytest.approx(0.5)
    assert float(diversity(samples)[0]) == pytest.approx(float(k.double().std(correction=0)))
    # Spread proportional to the error: correlation 1; a constant spread: 0.
    base = torch.zeros(1, 1, 1, 2, 2)
    spread = torch.tensor([0.1, 0.2, 0.3, 0.4]).view(1, 1, 1, 2, 2)
    two = torch.cat([base - spread, base + spread], dim=1) + 0.5  # mean 0.5, std = spread
    truth = 0.5 + 2 * spread[:, 0]
    assert float(std_error_correlation(two, truth)[0]) == pytest.approx(1.0)
    assert float(std_error_correlation(torch.zeros(1, 3, 1, 2, 2), truth)[0]) == 0.0


def test_a_run_on_a_reconstruction_benchmark_scores_the_fill_and_keeps_a_grid(tmp_path: Path) -> None:
    """The measurement baseline through the engine: its PSNR is that of the fill on the same
    measurements, every fingerprint names the operator, and the run keeps its restoration grid."""
    from genbench.api.dataset import ImageData
    from genbench.data import load_dataset
    from genbench.engine.runner import Runner, RunRequest
    from genbench.metrics.reconstruction import psnr

    out = Runner(tmp_path).run(
        RunRequest(family="vae", model="measured", dataset="digits", benchmark="digits-inpaint", budget="smoke")
    )
    scores = {s.name: s for s in out.scores}
    assert set(scores) >= {"restore-psnr", "restore-ssim", "restore-coverage90", "restore-consistency"}
    test_x = load_dataset("digits").split("test")[0]
    smoke = get_plugins().benchmark("digits-inpaint").test_images["smoke"]  # the measurements a smoke run restores
    rest = restoration_context({"op": "inpaint", "rate": 0.6, "seed": 0}, test_x, smoke, 16)
    truth = ImageData.to_float(rest.truth)
    expected = psnr(((rest.measurements.fill() - truth) ** 2).flatten(1).mean(1).double()).mean()
    assert scores["restore-psnr"].value == pytest.approx(float(expected), rel=1e-5)
    assert scores["restore-diversity"].value == 0.0 and scores["restore-consistency"].value < 1e-6
    for s in scores.values():
        assert s.fingerprint["operator"] == "inpaint" and s.fingerprint["rate"] == 0.6
        assert s.fingerprint["test_images"] == smoke
    assert (tmp_path / "runs" / out.run.id / "restorations.png").exists()


def test_consistency_under_noise_is_the_distance_from_the_truths_fit(tmp_path: Path) -> None:
    """Under noise the truth's residual RMS is sigma: the clipped measurement, closer to y than
    that, is scored by how far its RMS falls short of sigma."""
    from genbench.data import load_dataset
    from genbench.engine.runner import Runner, RunRequest

    out = Runner(tmp_path).run(
        RunRequest(family="vae", model="measured", dataset="digits", benchmark="digits-denoise", budget="smoke")
    )
    value = {s.name: s.value for s in out.scores}["restore-consistency"]
    smoke = get_plugins().benchmark("digits-denoise").test_images["smoke"]
    rest = restoration_context(
        {"op": "noise", "sigma": 0.3, "seed": 0}, load_dataset("digits").split("test")[0], smoke, 16
    )
    m = rest.measurements
    expected = (m.residual(m.fill()).double() - 0.3).abs().mean()
    assert value == pytest.approx(float(expected), rel=1e-5)
    truth = rest.truth.float() / 255
    assert float((m.residual(truth) - 0.3).abs().mean()) < value  # the truth fits y as noise says it should
