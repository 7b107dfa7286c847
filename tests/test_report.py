"""The static HTML report and the Pareto plot; the page is checked in a real headless Chromium when one is installed."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genbench.report.html import write_report
from genbench.report.images import save_loss_curve
from genbench.report.leaderboard import build_boards
from genbench.report.pareto import pareto_front, pareto_points, save_pareto
from genbench.store import Store
from genbench.store.schema import Artifact, MetricRecord, Run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]  # fmt: skip


def make_store(tmp_path: Path) -> Store:
    """Five finished runs of three models in two families (one model with two seeds), one failed run."""
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    rng = np.random.default_rng(0)
    specs = [("r1", "vae", "vae", 0, 3.0, 40.0), ("r2", "vae", "vae", 1, 3.4, 44.0),
             ("r3", "dcgan", "gan", 0, None, 60.0), ("r4", "cgan", "gan", 0, None, 30.0),
             ("r5", "toy-pixel", "toy", 0, 5.0, 90.0)]  # fmt: skip
    for rid, model, family, seed, nll, fd in specs:
        run_dir = tmp_path / "runs" / rid
        run_dir.mkdir(parents=True)
        grid = (rng.random((40, 40, 3)) * 255).astype(np.uint8)  # a sample grid stands in: any real PNG
        Image.fromarray(grid).save(run_dir / "samples.png")
        save_loss_curve({"loss": [(i * 64, 5.0 / (i + 1)) for i in range(20)]}, run_dir / "losses.png", rid)
        with store.session() as s:
            s.add(Run(id=rid, status="finished", family=family, model=model, dataset="digits", benchmark="digits",
                      benchmark_version=1, budget="quick", budget_images=20000, seed=seed, config={"model": {}},
                      config_hash=model, versions={"genbench": "0.1.0"}, git_commit="abc123", device="cpu",
                      hardware="test CPU", run_dir=str(run_dir), num_params=1000 * len(model), images_seen=20000,
                      wall_seconds=fd + 100.0, train_seconds=fd))  # fmt: skip
            s.add(MetricRecord(run_id=rid, name="clf-fd", value=fd, direction="min", fingerprint={"num_samples": 2000},
                               fingerprint_hash="F", settings={}))  # fmt: skip
            if nll is not None:
                s.add(MetricRecord(run_id=rid, name="nll", value=nll, direction="min", unit="bits/dim",
                                   fingerprint={"reference_count": 360}, fingerprint_hash="N",
                                   settings={}))  # fmt: skip
            s.add(Artifact(run_id=rid, kind="samples", path=str(run_dir / "samples.png")))
            s.add(Artifact(run_id=rid, kind="loss_curve", path=str(run_dir / "losses.png")))
    with store.session() as s:
        s.add(Run(id="bad", status="failed", family="gan", model="wgan-gp", dataset="digits", benchmark="digits",
                  benchmark_version=1, budget="quick", budget_images=20000, seed=0, config={}, config_hash="w",
                  versions={}, device="cpu", hardware="cpu", run_dir=str(tmp_path / "runs" / "bad"),
                  message="RuntimeError: boom"))  # fmt: skip
    return store


def test_pareto_front_and_points(tmp_path):
    assert pareto_front([(1, 5.0), (2, 4.0), (3, 6.0), (4, 1.0)], "min") == [(1, 5.0), (2, 4.0), (4, 1.0)]
    assert pareto_front([(1, 5.0), (2, 4.0), (3, 6.0)], "max") == [(1, 5.0), (3, 6.0)]
    (board,) = build_boards(make_store(tmp_path))
    points = pareto_points(board, board.column("clf-fd"))
    assert sorted((p[4], p[0], p[1]) for p in points) == [("r1", 40.0, 40.0), ("r2", 44.0, 44.0), ("r3", 60.0, 60.0),
                                                          ("r4", 30.0, 30.0), ("r5", 90.0, 90.0)]  # fmt: skip
    png = save_pareto(board, tmp_path / "p.png", metric="nll", x="images_seen")
    assert png is not None and Image.open(png).size[0] > 300


def test_report_page_holds_tables_images_and_metadata(tmp_path):
    index = write_report(make_store(tmp_path), tmp_path / "report")
    page = index.read_text()
    assert page.count('<table class="leaderboard"') == 1
    assert len(re.findall(r'<tr class="row" data-model="(\w[\w-]*)"', page)) == 4  # vae (2 seeds), dcgan, cgan, toy
    dcgan_row = re.search(r'<tr class="row" data-model="dcgan".*?</tr>', page).group(0)
    assert "<td>n/a</td>" in dcgan_row  # an installed GAN has no likelihood: nll is n/a, not missing
    srcs = re.findall(r'<img[^>]* src="([^"]+)"', page)
    assert len(srcs) == 11  # one Pareto plot + 5 runs x (samples + loss curve); the failed run has none
    assert all((index.parent / s).is_file() for s in srcs) and not any(s.startswith("/") for s in srcs)
    assert "RuntimeError: boom" in page and "abc123" in page and "test CPU" in page


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium installed (`apt-get install chromium`)")
def test_report_renders_in_headless_chromium(tmp_path):
    index = write_report(make_store(tmp_path), tmp_path / "report")
    url = index.resolve().as_uri()
    common = [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000"]
    dom = subprocess.run([*common, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert 'data-images-loaded="11"' in html and 'data-images-broken="0"' in html, re.findall(r"<body[^>]*>", html)
    rows = re.findall(r'<tr class="row" data-model="([\w-]+)"', html)
    assert sorted(rows) == ["cgan", "dcgan", "toy-pixel", "vae"]
    assert rows[0] == "cgan"  # sorted by clf-fd, lower is better
    shot = tmp_path / "shot.png"
    subprocess.run([*common, "--window-size=1200,1600", f"--screenshot={shot}", url], capture_output=True, timeout=120,
                   cwd=tmp_path)  # fmt: skip
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.float32)
    assert pixels.std() > 10 and len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50  # not a blank page


def test_report_command_writes_the_page_and_refuses_a_bad_axis(tmp_path, capsys, monkeypatch):
    import sys

    from genbench import cli

    make_store(tmp_path)
    monkeypatch.delenv("GENBENCH_DB", raising=False)
    for args, want in (([], 0), (["--pareto-x", "steps"], 2)):
        monkeypatch.setattr(sys, "argv", ["genbench", "report", "--db", f"sqlite:///{tmp_path / 'r.db'}",
                                          "--out", str(tmp_path / "out"), "--metric", "nll", *args])  # fmt: skip
        with pytest.raises(SystemExit) as exc:
            cli.main()
        assert (exc.value.code or 0) == want
    out, err = capsys.readouterr()
    assert "report:" in out and "index.html" in out
    assert "--pareto-x steps: choose train_seconds or images_seen" in err
    page = (tmp_path / "out" / "index.html").read_text()
    assert "<h3>nll against training time</h3>" in page


def test_report_marks_tied_groups_per_task(tmp_path):
    """No value here has an interval: nothing is resolved, so each task's models form one tied group;
    with intervals, resolved ranks stand apart."""
    store = make_store(tmp_path)
    page = write_report(store, tmp_path / "report").read_text()
    tasks = re.search(r'<ul class="tasks">(.*?)</ul>', page)
    assert tasks is not None and "<b>samples</b>" in tasks.group(1) and "<b>likelihood</b>" in tasks.group(1)
    assert '<span class="tied">1= ' in tasks.group(1)
    with store.session() as s:  # give clf-fd a tight interval: cgan (30), vae (40, 44), dcgan (60), toy (90)
        for rec in s.query(MetricRecord).filter(MetricRecord.name == "clf-fd"):
            rec.ci_low, rec.ci_high, rec.ci_method = rec.value - 0.5, rec.value + 0.5, "t"
    page = write_report(store, tmp_path / "report2").read_text()
    samples = re.search(r"<li><b>samples</b>(.*?)</li>", page).group(1)  # type: ignore[union-attr]
    # vae's two seeds (40, 44) give a wide interval over seeds, [16.6, 67.4]: it overlaps cgan (30) and
    # dcgan (60), which are resolved from each other; toy-pixel (90) is behind all three.
    assert '<span class="tied">1= cgan, vae</span>' in samples
    assert '<span class="">2 dcgan</span>' in samples and '<span class="">4 toy-pixel</span>' in samples
