"""--threads (its default and that runs record it) and benchmarks' reference split, count and NLL test count."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from genbench.benchmarks import load_benchmark
from genbench.engine import device
from genbench.engine.runner import Runner, RunRequest
from genbench.errors import GenbenchError
from genbench.plugins import get_plugins

SMOKE = ["train.batch_size=64", "eval.num_samples=64"]


def test_default_threads_follows_omp_then_the_idle_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert device.default_threads() == 3
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setattr(device, "available_cpus", lambda: 16)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.2, 0.0, 0.0))
    assert device.default_threads() == device.MAX_DEFAULT_THREADS  # an idle big machine: capped
    monkeypatch.setattr(os, "getloadavg", lambda: (14.6, 0.0, 0.0))
    assert device.default_threads() == 1  # 15 of 16 CPUs busy
    monkeypatch.setattr(device, "available_cpus", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (12.0, 0.0, 0.0))
    assert device.default_threads() == 1  # an overloaded 2-core machine never gets 0 or 2


def test_run_records_its_thread_count(toy_plugins, results: Path) -> None:
    before = torch.get_num_threads()
    try:
        runner = Runner(results)
        req = RunRequest("toy", "digits", budget="smoke", sets=SMOKE, device="cpu", threads=1)
        run = runner.store.get_run(runner.run(req).run.id)
        assert run.config["threads"] == 1 and "1 threads" in run.hardware
        with pytest.raises(GenbenchError, match="--threads -2"):
            runner.run(RunRequest("toy", "digits", budget="smoke", sets=SMOKE, device="cpu", threads=-2))
    finally:
        torch.set_num_threads(before)


def test_benchmark_declares_reference_and_test_counts(tmp_path: Path) -> None:
    cifar = get_plugins().benchmark("cifar10")
    assert (cifar.reference_split, cifar.reference_count) == ("train", 50_000)  # the papers' FID protocol
    mnist = get_plugins().benchmark("mnist")
    assert (mnist.reference_split, mnist.reference_count) == ("test", 0)
    assert mnist.test_images == {"smoke": 100, "quick": 2000}  # standard: the whole test set
    assert "standard" not in cifar.test_images
    text = "name: b\nversion: 1\ndataset: digits\nbudgets: {smoke: 10}\neval:\n  num_samples: {smoke: 10}\n"
    for extra, message in (
        ("  reference: {split: valid}\n", "split must be train or test"),
        ("  test_images: {quick: 10}\n", "names budget 'quick'"),
    ):
        path = tmp_path / "b.yaml"
        path.write_text(text + extra)
        with pytest.raises(GenbenchError, match=message):
            load_benchmark(path)


def test_runs_score_against_the_benchmarks_reference(toy_plugins, results: Path, tmp_path: Path) -> None:
    bench = tmp_path / "ref.yaml"
    bench.write_text(
        "name: digits-train-ref\nversion: 1\ndataset: digits\nbudgets: {smoke: 128}\n"
        "eval:\n  num_samples: {smoke: 64}\n  optional: [clf-fd, clf-recall, nll]\n"
        "  reference: {split: train, count: 1000}\n  test_images: {smoke: 100}\n"
    )
    plugins = get_plugins()
    loaded = load_benchmark(bench)
    plugins.benchmarks[loaded.name] = loaded
    try:
        runner = Runner(results, plugins=plugins)
        out = runner.run(RunRequest("toy", "digits", budget="smoke", benchmark=loaded.name, device="cpu"))
        fps = {s.name: s.fingerprint for s in out.scores}
        assert (fps["clf-fd"]["reference"], fps["clf-fd"]["reference_count"]) == ("digits/train", 1000)
        assert (fps["clf-recall"]["reference"], fps["clf-recall"]["reference_count"]) == ("digits/train", 1000)
        assert (fps["nll"]["reference"], fps["nll"]["reference_count"]) == ("digits/test", 100)
    finally:
        plugins.benchmarks.pop(loaded.name)
