"""Every listing at 80 columns, on a terminal and piped: the names a user needs are whole (issue #26).

The leaderboard has its own tests (tests/test_leaderboard.py); these cover runs, show, plugins,
models, datasets, metrics and benchmarks.
"""

from __future__ import annotations

import json
import re

import pytest
from rich.console import Console

from genbench import cli
from genbench.testing import run_cli

RUN = ["run", "toy", "--dataset", "digits", "--budget", "smoke", "--device", "cpu", "--set", "eval.num_samples=32"]


def whole(name: str, text: str) -> bool:
    """``name`` appears in ``text`` as a whole token (not cut, not run into another word)."""
    return re.search(rf"(?<![\w.-]){re.escape(name)}(?![\w-])", text) is not None


@pytest.fixture
def run_id(toy_plugins, results, capsys) -> str:
    code, _, err = run_cli(capsys, *RUN, "--results-dir", str(results))
    assert code == 0, err
    code, out, _ = run_cli(capsys, "runs", "--format", "json", "--results-dir", str(results))
    return json.loads(out)[0]["id"]


@pytest.fixture(params=["terminal", "piped"])
def screen(request, monkeypatch) -> str:
    """An 80-column console, a terminal or a pipe (stdout is captured by capsys either way)."""
    terminal = request.param == "terminal"
    monkeypatch.setattr(cli.output, "console", Console(force_terminal=terminal, width=80, color_system=None))
    return request.param


def names(toy_plugins) -> dict[str, list[str]]:
    p = toy_plugins
    return {
        "models": [m.name for m in p.models] + sorted(p.families()),
        "datasets": [d.name for d in p.datasets],
        "metrics": [m.name for m in p.metrics],
        "benchmarks": list(p.benchmarks),
        "plugins": sorted({i.label for i in p.info}),
    }


@pytest.mark.parametrize("view", ["models", "datasets", "metrics", "benchmarks", "plugins"])
def test_registry_listings_show_whole_names_at_80_columns(view, screen, toy_plugins, capsys) -> None:
    code, out, err = run_cli(capsys, view)
    assert code == 0, err
    wanted = names(toy_plugins)[view]
    assert wanted and all(whole(name, out) for name in wanted), (view, [n for n in wanted if not whole(n, out)], out)
    assert "…" not in out  # nothing cut with an ellipsis
    if screen == "terminal":  # a line that is one path or URL is left whole, for copying
        assert all(len(line) <= 80 for line in out.splitlines() if " " in line.strip()), out


def test_metrics_piped_is_greppable(toy_plugins, capsys, monkeypatch) -> None:
    monkeypatch.setattr(cli.output, "console", Console(force_terminal=False, width=80, color_system=None))
    _, out, _ = run_cli(capsys, "metrics")
    hits = [line for line in out.splitlines() if "precision" in line]
    assert any(line.split()[0] == "clf-precision" for line in hits), out


def test_piped_long_lists_go_last_and_pad_no_other_line(toy_plugins, capsys, monkeypatch) -> None:
    monkeypatch.setattr(cli.output, "console", Console(force_terminal=False, width=80, color_system=None))
    _, out, _ = run_cli(capsys, "plugins")
    header, *rows = out.splitlines()
    assert header.split() == ["plugin", "entry", "point", "version", "status", "registers"], header
    assert len(header) < 80, header  # not padded to the longest list of registrations
    assert all(len(row) < 80 or ":" in row[60:] for row in rows)  # only a list of registrations runs long


def test_datasets_piped_show_the_whole_files_path(toy_plugins, capsys, monkeypatch) -> None:
    monkeypatch.setattr(cli.output, "console", Console(force_terminal=False, width=80, color_system=None))
    _, out, _ = run_cli(capsys, "datasets")
    cifar = next(line for line in out.splitlines() if line.startswith("cifar10 "))
    assert toy_plugins.datasets.get("cifar10").layout in cifar


@pytest.mark.parametrize("view", ["runs", "show"])
def test_run_views_show_whole_ids_and_models_at_80_columns(view, screen, run_id, results, capsys) -> None:
    args = [view, run_id] if view == "show" else [view]
    code, out, err = run_cli(capsys, *args, "--results-dir", str(results))
    assert code == 0, err
    assert whole(run_id, out) and "toy-pixel" in out and "…" not in out, out
    if view == "show":
        assert whole("clf-precision", out) and whole("nll", out), out  # metric names whole
    if screen == "terminal":
        # The artifacts' folder is one soft-wrapped line, so that it can be copied whole.
        assert all(len(line) <= 80 for line in out.splitlines() if not line.startswith("artifacts in ")), out


def test_show_says_shared_eval_settings_once(run_id, results, capsys, monkeypatch) -> None:
    monkeypatch.setattr(cli.output, "console", Console(force_terminal=False, width=80, color_system=None))
    _, out, _ = run_cli(capsys, "show", run_id, "--results-dir", str(results))
    assert out.count("temperature=1.0") == 1, out  # in the config, not again under every metric
    assert "eval settings" not in out
    code, _, err = run_cli(capsys, "eval", run_id, "--set", "temperature=0.5", "--results-dir", str(results))
    assert code == 0, err
    _, out, _ = run_cli(capsys, "show", run_id, "--results-dir", str(results))
    assert out.count("temperature=0.5") == 1 and "eval settings #1: temperature=0.5" in out, out
    values, costs = out.split("evaluation cost")
    rows = [line.split() for line in values.splitlines() if line.startswith("clf-fd ")]
    assert [row[-1] for row in rows] == ["config", "#1"], out
    # each value's cost below: its time and network evaluations (the toy's samples for clf-fd)
    cost_rows = [line.split() for line in costs.splitlines() if line.startswith("clf-fd ")]
    assert len(cost_rows) == 2 and all(row[-1] != "?" and row[-2] == "s" for row in cost_rows), out


SUITE = """
name: toy-listing
version: 1
device: cpu
budget: smoke
seeds: [0, 1]
entries:
  - benchmark: digits
    models: [toy-pixel]
    set: [eval.num_samples=32, train.log_every=5]
"""


def test_suite_status_shows_whole_names_at_80_columns(screen, toy_plugins, results, tmp_path, capsys, monkeypatch):
    from genbench.suite import commands

    monkeypatch.setattr(commands, "console", cli.output.console)  # the screen fixture's console
    path = tmp_path / "toy-listing.suite.yaml"
    path.write_text(SUITE)
    code, out, err = run_cli(capsys, "suite", "run", str(path), "--seeds", "0", "--results-dir", str(results))
    assert code == 0, out + err
    code, out, _ = run_cli(capsys, "runs", "--format", "json", "--results-dir", str(results))
    (run,) = json.loads(out)
    code, out, err = run_cli(capsys, "suite", "status", str(path), "--results-dir", str(results))
    assert code == 0, err
    rows = [line for line in out.splitlines() if whole("toy-pixel", line)]
    assert len(rows) == 2, out  # seed 0 (done) and seed 1 (to start), each on one line
    assert whole(run["id"], rows[0]) and whole("finished", rows[0]) and whole("digits", rows[0]), out
    assert "to start" in rows[1] and whole("digits", rows[1]), out
    assert "…" not in out and "1 done, 1 to start" in out, out
    if screen == "terminal":
        assert all(len(line) <= 80 for line in out.splitlines() if " " in line.strip()), out
    else:  # piped: every column, the settings whole
        assert all(whole(h, out.splitlines()[1]) for h in ("family", "budget", "settings", "wall")), out
        assert "eval.num_samples=32 train.log_every=5" in rows[0], out


def test_suite_status_without_a_store_creates_none(toy_plugins, tmp_path, capsys):
    path = tmp_path / "toy-listing.suite.yaml"
    path.write_text(SUITE)
    results = tmp_path / "nothing-here"
    code, out, err = run_cli(capsys, "suite", "status", str(path), "--results-dir", str(results))
    assert code == 0, err
    assert "2 to start" in out and "no runs yet: there is no store at" in out, out
    assert not results.exists()


def test_a_runs_summary_table_is_whole_at_80_columns(screen, toy_plugins, results, capsys) -> None:
    code, out, err = run_cli(capsys, *RUN, "--results-dir", str(results))
    assert code == 0, err
    assert "…" not in out and whole("clf-precision", out) and "bits/dim" in out, out
    header = next(line for line in out.splitlines() if "metric" in line and "value" in line)
    if screen == "terminal":
        assert all(len(line) <= 80 for line in out.splitlines() if " " in line.strip()), out
        assert "seconds" in header or "seconds left out to fit 80 columns" in out, out
    else:
        assert header.split() == ["metric", "value", "95%", "interval", "rank", "seconds"], header
