"""Pictures readable at the size they are shown, and a demo whose second run only prints (issue #26)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def capture_figures(monkeypatch: pytest.MonkeyPatch) -> list:
    """Every matplotlib figure saved while the test runs."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    saved: list = []
    real = Figure.savefig

    def keep(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        saved.append(self)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    return saved


def test_loss_curve_text_is_10_pt_on_a_770_px_figure(tmp_path, monkeypatch):
    from genbench.report.images import save_loss_curve

    figures = capture_figures(monkeypatch)
    path = save_loss_curve({"loss": [(i * 64, 5.0 / (i + 1)) for i in range(20)]}, tmp_path / "l.png", "t")
    assert Image.open(path).size[0] == 770  # shown at this width in the report (img.losses max-width)
    ax = figures[0].axes[0]
    assert ax.get_legend().get_texts()[0].get_fontsize() == 10
    assert all(t.get_fontsize() == 10 for t in ax.get_yticklabels()) and ax.yaxis.label.get_fontsize() == 10


def test_the_report_shows_loss_curves_at_full_width(tmp_path):
    from genbench.report.html import CSS

    assert ".run img.losses { width: 100%; max-width: 770px" in CSS
    assert "width: 288px" not in CSS  # sample grids are no longer squeezed below 64 px a cell


def test_pareto_legend_is_10_pt_and_one_familys_models_have_distinct_markers(tmp_path, monkeypatch):
    from genbench.report.pareto import _MARKERS, model_markers

    markers = model_markers([("gan", "dcgan"), ("gan", "cgan"), ("gan", "wgan-gp"), ("vae", "vae"), ("vae", "cvae")])
    assert markers["cgan"] != markers["dcgan"] != markers["wgan-gp"] != markers["cgan"]
    assert markers["cgan"] == "o" and markers["dcgan"] == "s"  # the first two shapes: circle and square
    assert len(set(_MARKERS)) == len(_MARKERS)

    import importlib.util

    spec = importlib.util.spec_from_file_location("report_tests", ROOT / "tests" / "test_report.py")
    assert spec is not None and spec.loader is not None
    test_report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(test_report)  # its five-run store
    from genbench.report.leaderboard import build_boards
    from genbench.report.pareto import save_pareto

    figures = capture_figures(monkeypatch)
    (board,) = build_boards(test_report.make_store(tmp_path))
    assert save_pareto(board, tmp_path / "p.png", metric="clf-fd") is not None
    legend = figures[0].axes[0].get_legend()
    assert all(t.get_fontsize() == 10 for t in legend.get_texts())


def test_translation_grid_cells_are_64_px_with_labelled_rows(tmp_path):
    from genbench.data import load_dataset
    from genbench.plugins import get_plugins
    from genbench.report.images import MIN_CELL_PX
    from genbench.report.translation import ROW_LABELS, save_translation_grid

    if "identity" not in get_plugins().models:
        pytest.skip("genbench-cyclegan is not installed")
    from genbench.engine.build import build_model, resolve_config

    data = load_dataset("digits2color")
    spec = get_plugins().models.get("identity")
    model = build_model(spec, data.info, resolve_config(spec, data.info))
    path = save_translation_grid(model, data, tmp_path / "t.png", device=torch.device("cpu"))
    width, height = Image.open(path).size
    assert len(ROW_LABELS) == 6
    assert height >= 6 * MIN_CELL_PX and width >= 8 * MIN_CELL_PX + 40  # 64 px cells and a label column


def test_the_digits_suite_holds_the_translation_runs():
    from genbench.plugins import get_plugins
    from genbench.suite import get_suite
    from genbench.suite.plan import expand

    plugins = get_plugins()
    jobs = expand(get_suite("digits", plugins.suites), plugins)
    translation = {(j.benchmark, j.budget, j.model) for j in jobs if j.benchmark == "digits2color"}
    translators = {s.name for s in plugins.models if "translate" in s.capabilities}
    assert translators and translation == {("digits2color", "smoke", m) for m in translators}


def test_make_demo_runs_the_suite_only_so_a_second_demo_only_prints():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    assert "genbench suite run digits" in recipe
    assert "genbench run " not in recipe  # a bare run would train again on every `make demo`
    assert "leaderboard --dataset digits " in recipe and "leaderboard --dataset digits2color" in recipe
    assert recipe.rstrip().splitlines()[-1].strip().startswith("$(BIN)/genbench report")


def test_suite_eta_is_not_the_mean_of_the_quick_jobs():
    from genbench.suite.executor import SuiteProgress

    # Two baselines finished in 10 s each; a job has trained half its budget in 300 s; two are queued.
    progress = SuiteProgress(total=5, done=2, queued=2, jobs=2, durations=[10.0, 10.0], running=[("a", 0.5, 300.0)])
    eta = progress.eta()
    # That job needs about 300 s more; each queued one the mean of 10, 10 and 300 s (the running job
    # is already past the quick ones' mean); over two slots. The quick ones' mean alone said 12.5 s.
    assert eta == pytest.approx((300 + 2 * (320 / 3)) / 2)
    done = SuiteProgress(total=2, done=2, jobs=1, durations=[5.0, 7.0])
    assert done.eta() == 0.0
