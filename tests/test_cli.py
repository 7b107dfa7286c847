"""The CLI: bad input is one line on stderr, exit code 2, no traceback, nothing stored lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from genbench import cli
from genbench.testing import run_cli

genbench = run_cli  # the console entry point in-process: (exit code, stdout, stderr)


def assert_user_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    text = " ".join(err.split())  # rich may wrap long lines
    for needle in needles:
        assert needle in text, text


RUN = ["run", "toy", "--dataset", "digits", "--budget", "smoke", "--device", "cpu", "--set", "eval.num_samples=32"]


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["run", "toyy", "--dataset", "digits"], ["unknown family 'toyy'", "did you mean 'toy'"]),
        (["run", "toy", "--model", "toy-pixle", "--dataset", "digits"], ["unknown model 'toy-pixle'", "toy-pixel"]),
        (["run", "toy", "--dataset", "digitz"], ["unknown dataset 'digitz'", "did you mean 'digits'"]),
        ([*RUN, "--set", "lrr=0.1"], ["unknown setting 'lrr'", "did you mean 'lr'"]),
        ([*RUN, "--set", "lr=fast"], ["--set lr=fast: expected float"]),
        ([*RUN, "--set", "train.batch_size=1.5"], ["train.batch_size=1.5: expected int"]),
        ([*RUN, "--set", "nonsense"], ["expected key=value"]),
        (["run", "toy", "--dataset", "digits", "--device", "tpu"], ["unknown device 'tpu'"]),
        (["leaderboard", "--metric", "fdi"], ["unknown metric 'fdi'"]),
        (["show", "nosuchrun"], ["no run 'nosuchrun'"]),
    ],
)
def test_bad_input_is_one_line_exit_2(toy_plugins, results, capsys, args, needles):
    code, out, err = genbench(capsys, *args, "--results-dir", str(results))
    assert_user_error(code, err, *needles)
    assert not (results / "runs").exists() or not any((results / "runs").iterdir())


def test_unknown_budget_is_rejected(toy_plugins, results, capsys):
    code, _, err = genbench(
        capsys, "run", "toy", "--dataset", "digits", "--budget", "huge", "--results-dir", str(results)
    )
    assert code == 2 and "huge" in err and "Traceback" not in err


def test_missing_data_folder(toy_plugins, results, capsys, tmp_path):
    code, _, err = genbench(
        capsys, *RUN[:2], "--dataset", "mnist", "--data-dir", str(tmp_path / "nope"), "--results-dir", str(results)
    )
    assert_user_error(code, err, "does not exist")


def test_unwritable_results_folder(toy_plugins, capsys, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("a file where the results folder should go")
    code, _, err = genbench(capsys, *RUN, "--results-dir", str(blocker / "results"))
    assert_user_error(code, err, "not writable", "--results-dir")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if not os.access(locked, os.W_OK):  # root can write anywhere: then only the case above applies
            code, _, err = genbench(capsys, *RUN, "--results-dir", str(locked / "results"))
            assert_user_error(code, err, "not writable")
    finally:
        locked.chmod(0o700)


def test_database_that_is_not_a_database_is_left_untouched(toy_plugins, results, capsys, tmp_path):
    bogus = tmp_path / "notes.db"
    bogus.write_bytes(b"these are my notes, not a database\n" * 50)
    before = bogus.read_bytes()
    code, _, err = genbench(capsys, *RUN, "--results-dir", str(results), "--db", f"sqlite:///{bogus}")
    assert_user_error(code, err, "file is not a database")
    assert bogus.read_bytes() == before


def test_run_show_runs_leaderboard_round_trip(toy_plugins, results, capsys):
    code, out, err = genbench(capsys, *RUN, "--results-dir", str(results))
    assert code == 0, err
    assert "finished" in out and "nll" in out and "1 of 1" in out
    code, out, _ = genbench(capsys, "runs", "--format", "json", "--results-dir", str(results))
    listed = json.loads(out)
    assert len(listed) == 1 and listed[0]["status"] == "finished"
    run_id = listed[0]["id"]
    code, out, _ = genbench(capsys, "show", run_id[:5], "--results-dir", str(results))
    assert code == 0 and run_id in out and "samples:" in out and "  loss: first" in out
    assert "loss loss:" not in out and "skipped_metrics" not in out and "num_samples=0" not in out
    assert "num_samples=32" in out  # the count the metrics used
    from genbench.engine.runner import git_commit

    commit_line = out.split("git commit")[1].splitlines()[0]
    # The checkout's commit wherever the command ran; a tarball (no .git) says so instead of "-".
    assert (git_commit() or "unknown (genbench was not run from a git checkout)") in commit_line
    code, out, _ = genbench(capsys, "leaderboard", "--format", "json", "--results-dir", str(results))
    board = json.loads(out)
    assert {r["metric"] for r in board} >= {"nll"} and all(r["runs"] == [run_id] for r in board)
    nll = next(r for r in board if r["metric"] == "nll")  # stored with its interval, shown in every format
    assert nll["ci_low"] < nll["mean"] < nll["ci_high"] and nll["ci_method"] == "t"
    code, out, _ = genbench(capsys, "leaderboard", "--format", "csv", "--results-dir", str(results))
    assert out.splitlines()[0].startswith("dataset,benchmark") and "ci_low,ci_high" in out.splitlines()[0]
    code, out, _ = genbench(capsys, "leaderboard", "--format", "markdown", "--results-dir", str(results))
    assert "| 1 | toy-pixel" in out


def test_listing_commands(toy_plugins, capsys):
    code, out, _ = genbench(capsys, "plugins")
    assert code == 0 and "genbench_toy" in out and "toy-pixel" in out
    code, out, _ = genbench(capsys, "datasets")
    assert code == 0 and "digits" in out and "mnist" in out
    code, out, _ = genbench(capsys, "metrics")
    assert code == 0 and "nll" in out and "lower" in out and "fingerprint fields" in out


def test_console_script_exit_code_and_single_line(tmp_path):
    """The installed entry point, as a user runs it."""
    exe = Path(sys.executable).with_name("genbench")
    proc = subprocess.run(
        [str(exe), "run", "nosuchfamily", "--dataset", "digits", "--results-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_benchmark_needing_a_missing_capability_fails_before_training(toy_plugins, results, capsys):
    code, _, err = genbench(
        capsys, *RUN[:4], "--benchmark", "toy-conditional", "--budget", "smoke", "--results-dir", str(results)
    )
    assert_user_error(code, err, "needs metric 'cond-acc'", "'conditional'", "toy-pixel")
    assert not (results / "runs").exists()


def test_plugins_can_add_commands(toy_plugins, capsys):
    code, out, _ = genbench(capsys, "toy-params")
    assert code == 0 and out.strip() == "128"


# -- help, discoverability, listings --------------------------------------------------------


def test_version(capsys):
    from genbench import __version__

    code, out, _ = genbench(capsys, "--version")
    assert code == 0 and out.strip() == f"genbench {__version__}"


def test_every_option_of_every_command_has_help(toy_plugins):
    import typer.main

    cli._add_plugin_commands()
    group = typer.main.get_command(cli.app)
    for name, command in group.commands.items():
        for param in command.params:
            if param.param_type_name == "option":
                assert param.help, f"genbench {name} {param.opts[0]} has no help text"


def test_status_option_lists_the_stored_statuses(capsys):
    from genbench.store.schema import RUN_STATUSES

    assert [s.value for s in cli.Status] == list(RUN_STATUSES)
    code, out, _ = genbench(capsys, "runs", "--help")
    assert code == 0 and all(s in out for s in RUN_STATUSES)


def test_help_keeps_bracketed_extras(capsys):
    # Help text goes through rich markup, which silently drops an unescaped [slurm].
    code, out, _ = genbench(capsys, "suite", "run", "--help")
    assert code == 0 and "genbench[slurm]" in out


@pytest.mark.parametrize("command", ["plugins", "datasets", "metrics", "models", "benchmarks"])
def test_listings_have_json(toy_plugins, capsys, command):
    code, out, err = genbench(capsys, command, "--format", "json")
    assert code == 0, err
    records = json.loads(out)
    assert records and all(isinstance(r, dict) for r in records)


def test_models_and_benchmarks_commands(toy_plugins, capsys):
    code, out, _ = genbench(capsys, "models", "--family", "toy")
    assert code == 0 and "toy-pixel (default)" in out and "sample" in out
    code, out, _ = genbench(capsys, "benchmarks")
    assert code == 0 and "2,048" in out and "digits v1" in out  # digits' smoke budget in images


def test_unknown_model_lists_the_familys_models_and_a_real_command(toy_plugins, results, capsys):
    args = ["run", "toy", "--model", "nosuch", "--dataset", "digits"]
    code, _, err = genbench(capsys, *args, "--results-dir", str(results))
    assert_user_error(code, err, "unknown model 'nosuch' in family 'toy'", "toy-pixel", "genbench models --family toy")
    assert "vae" not in err  # not every family's models
    code, _, _ = genbench(capsys, "models", "--family", "toy")
    assert code == 0  # the command the message points at exists


def test_engine_setting_without_its_prefix_is_suggested(toy_plugins, results, capsys):
    code, _, err = genbench(capsys, *RUN, "--set", "batch_size=abc", "--results-dir", str(results))
    assert_user_error(code, err, "unknown setting 'batch_size'", "did you mean 'train.batch_size'")


def test_data_dir_naming_a_file_says_so(toy_plugins, results, capsys, tmp_path):
    afile = tmp_path / "train-images-idx3-ubyte.gz"
    afile.write_bytes(b"x")
    code, _, err = genbench(
        capsys, *RUN[:2], "--dataset", "mnist", "--data-dir", str(afile), "--results-dir", f"{results}"
    )
    assert_user_error(code, err, "is a file, not a folder")


def test_partial_mnist_folder_is_not_replaced_by_a_cached_copy(toy_plugins, results, capsys, tmp_path):
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (raw / name).write_bytes(b"")
    args = [*RUN[:2], "--dataset", "mnist", "--data-dir", str(tmp_path / "data")]
    code, _, err = genbench(capsys, *args, "--results-dir", str(results))
    assert_user_error(code, err, "holds only part of MNIST", "train-images-idx3-ubyte.gz missing")


# -- runs at 80 columns and piped ---------------------------------------------------------


@pytest.fixture
def two_runs(toy_plugins, results, capsys):
    for seed in ("0", "1"):
        code, _, err = genbench(capsys, *RUN, "--seed", seed, "--results-dir", str(results))
        assert code == 0, err
    code, out, _ = genbench(capsys, "runs", "--format", "json", "--results-dir", str(results))
    return [r["id"] for r in json.loads(out)]


def test_runs_at_80_columns_never_cut_ids_or_models(two_runs, results, capsys, monkeypatch):
    from rich.console import Console

    monkeypatch.setattr(cli.output, "console", Console(force_terminal=True, width=80, color_system=None))
    code, out, _ = genbench(capsys, "runs", "--results-dir", str(results))
    assert code == 0
    assert all(len(line) <= 80 for line in out.splitlines()), out
    for run_id in two_runs:
        assert run_id in out
    assert "toy/toy-pixel" in out and "…" not in out
    monkeypatch.setattr(cli.output, "console", Console(force_terminal=True, width=50, color_system=None))
    code, out, _ = genbench(capsys, "runs", "--results-dir", str(results))
    assert two_runs[0] in out and "toy/toy-pixel" in out and "left out to fit 50 columns" in " ".join(out.split())


def test_runs_piped_is_plain_and_greppable(two_runs, results, capsys):
    code, out, _ = genbench(capsys, "runs", "--results-dir", str(results))  # capsys: not a terminal
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["id", "status", "model"]
    matches = [line for line in lines if "toy-pixel" in line]
    assert len(matches) == 2 and all(line.split()[0] in two_runs for line in matches)
    assert "│" not in out and "┃" not in out


def test_runs_filters_and_empty_filter(two_runs, results, capsys):
    code, out, _ = genbench(capsys, "runs", "--family", "toy", "--format", "json", "--results-dir", str(results))
    assert len(json.loads(out)) == 2
    code, out, _ = genbench(capsys, "runs", "--family", "gan", "--results-dir", str(results))
    assert code == 0 and "no run matches --family gan" in out and "2 run(s) stored" in out
    code, _, err = genbench(capsys, "runs", "--status", "done", "--results-dir", str(results))
    assert code == 2 and "finished" in err  # the allowed values are listed


def test_empty_leaderboard_message_matches_the_filter(two_runs, results, capsys):
    code, out, _ = genbench(capsys, "leaderboard", "--dataset", "mnist", "--results-dir", str(results))
    assert code == 0 and "no finished run matches --dataset mnist" in out and "2 finished run(s)" in out
    assert "no finished runs yet" not in out


# -- progress and pictures ----------------------------------------------------------------


def test_progress_is_plain_lines_when_not_a_terminal(toy_plugins, results, capsys, monkeypatch):
    monkeypatch.setattr(cli.output, "PLAIN_EVERY_S", 0.0)
    code, out, err = genbench(capsys, *RUN, "--results-dir", str(results))
    assert code == 0, err
    assert "training for 2,048 images" in err and "img/s" in err
    assert "training done; evaluating" in err and "metric nll: started" in err
    assert "sampling: 32 done in" in err and "nll: test images: 360 done in" in err  # nll scores the whole test split
    assert "metric nll: done in" in err
    assert "plumbing check" in out  # a smoke run says what smoke is for


def test_benchmark_default_sample_count_shown_by_show(toy_plugins, results, capsys):
    code, _, err = genbench(capsys, "run", "toy", "--dataset", "toy-stripes", "--budget", "smoke", "--device", "cpu",
                            "--results-dir", str(results))  # fmt: skip
    assert code == 0, err
    code, out, _ = genbench(capsys, "runs", "--format", "json", "--results-dir", str(results))
    code, out, _ = genbench(capsys, "show", json.loads(out)[0]["id"], "--results-dir", str(results))
    assert "num_samples=100 (the benchmark's)" in out and "num_samples=0" not in out


def test_sample_grid_is_readable():
    import torch

    from genbench.report.images import MIN_CELL_PX, SEPARATOR_RGB, grid_image

    x = torch.full((20, 1, 8, 8), 0.5)  # grey samples: the separator must not look like them
    labels = ["class 0", "class 1", "class 2"]
    img = grid_image(x, title="vae/vae on digits - run abc - budget smoke", row_labels=labels)
    assert img.width >= 8 * MIN_CELL_PX and img.height >= 3 * MIN_CELL_PX
    px = img.load()
    columns = {px[x_, img.height - 1] for x_ in range(img.width)}
    assert SEPARATOR_RGB in columns  # the bottom border
    assert (128, 128, 128) in {px[x_, img.height - 10] for x_ in range(img.width)}  # an upscaled grey sample
    left = {px[x_, y_] for x_ in range(40) for y_ in range(img.height)}
    assert (0, 0, 0) in left  # row labels drawn left of the grid


def test_loss_panels_separate_scales_and_diagnostics():
    from genbench.report.images import loss_panels

    pts = lambda v: [(i, v) for i in range(5)]  # noqa: E731
    panels = loss_panels({"d_loss": pts(0.6), "g_loss": pts(2.0), "r1": pts(0.02), "spread": pts(0.9),
                          "w_distance": pts(40.0), "nll": pts(300.0)})  # fmt: skip
    kinds = {name: kind for kind, names in panels for name in names}
    assert kinds == {"d_loss": "loss", "g_loss": "loss", "nll": "loss", "r1": "diagnostic", "spread": "diagnostic",
                     "w_distance": "diagnostic"}  # fmt: skip
    together = [names for _, names in panels]
    assert ["d_loss", "g_loss"] in together and ["nll"] in together  # 0.6 and 2 share; 300 is apart


# -- plugin faults: named, one line, never fatal to the rest -------------------------------


def test_broken_family_says_the_plugin_is_broken(results, capsys, monkeypatch):
    monkeypatch.setenv("GENBENCH_PLUGINS", "genbench_broken,genbench_toy")
    cli_reset()
    code, _, err = genbench(capsys, "run", "broken", "--dataset", "digits", "--results-dir", str(results))
    assert_user_error(code, err, "plugin genbench_broken dev is broken", "genbench_toy_missing_dependency")
    assert "unknown family" not in err


def cli_reset() -> None:
    from genbench.plugins import get_plugins

    get_plugins.cache_clear()


@pytest.fixture
def faulty(results, monkeypatch):
    monkeypatch.setenv("GENBENCH_PLUGINS", "genbench_toy,genbench_faulty")
    cli_reset()
    yield results
    cli_reset()


def assert_plugin_fault(code: int, err: str, *needles: str) -> None:
    assert code == 1, err
    assert "Traceback" not in err
    text = " ".join(err.split())
    assert "plugin genbench_faulty dev failed" in text, text
    for needle in needles:
        assert needle in text, text


def stored_statuses(capsys, results) -> list[str]:
    code, out, _ = genbench(capsys, "runs", "--format", "json", "--results-dir", str(results))
    return [r["status"] for r in json.loads(out)]


@pytest.mark.parametrize(
    ("model", "needles"),
    [
        ("faulty-typo", ["loading model 'faulty-typo'", "ModuleNotFoundError", "genbench_faulty_models_typo"]),
        ("faulty-build", ["building model 'faulty-build'", "ValueError: hidden size must be even"]),
    ],
)
def test_model_that_cannot_be_loaded_or_built_is_one_line_exit_1(faulty, capsys, model, needles):
    code, _, err = genbench(capsys, "run", "faulty", "--model", model, "--dataset", "digits", "--budget", "smoke",
                            "--results-dir", str(faulty))  # fmt: skip
    assert_plugin_fault(code, err, *needles, "--debug")
    assert stored_statuses(capsys, faulty) == []


def test_model_that_raises_in_training_is_stored_as_failed(faulty, capsys):
    args = ["run", "faulty", "--model", "faulty-train", "--dataset", "digits", "--budget", "smoke", "--device", "cpu"]
    code, _, err = genbench(capsys, *args, "--results-dir", str(faulty))
    assert_plugin_fault(code, err, "training model 'faulty-train'", "IndexError: index 8 is out of bounds")
    assert stored_statuses(capsys, faulty) == ["failed"]
    code, _, err = genbench(capsys, "--debug", *args, "--results-dir", str(faulty))
    assert code == 1 and "Traceback" in err and "training_step" in err


@pytest.mark.parametrize("fault", ["PluginFault", "ProcessLost"])
def test_a_fault_whose_message_holds_brackets_is_one_line(monkeypatch, capsys, fault):
    """Libraries put [brackets] in messages (gloo: "[.../pair.cc:561] Connection closed by peer"),
    which rich would read as a markup tag and crash on, with a traceback."""
    from genbench import errors

    message = "rank 0 waited: RuntimeError: [/gloo/transport/tcp/pair.cc:561] Connection closed by peer [::1]:80"

    def boom(**kwargs: object) -> None:
        raise getattr(errors, fault)(message)

    monkeypatch.setattr(cli, "app", boom)
    monkeypatch.setattr(cli, "_add_plugin_commands", lambda: None)
    monkeypatch.setattr(sys, "argv", ["genbench", "run"])
    with pytest.raises(SystemExit) as stop:
        cli.main()
    err = capsys.readouterr().err
    assert stop.value.code == 1 and "Traceback" not in err
    assert " ".join(err.split()) == f"error: {message} (--debug shows the traceback)"


def test_failing_command_registration_breaks_only_that_plugin(faulty, capsys):
    code, out, _ = genbench(capsys, "toy-params")
    assert code == 0 and out.strip() == "128"
    code, out, _ = genbench(capsys, "plugins", "--format", "json")
    info = {r["entry_point"]: r for r in json.loads(out)}
    assert "genbench_register_commands failed: RuntimeError" in info["genbench_faulty"]["error"]


def test_no_plugins_command_breaks_another(results, capsys, monkeypatch):
    """Each way a plugin's commands go wrong (tests/plugins/genbench_badcommands/) stays inside that
    plugin: the core's commands and views and the other plugins' commands work, `genbench plugins` says why."""
    bad = [f"genbench_badcommands.{name}" for name in ("exits", "untypable", "clash", "raises", "callback")]
    monkeypatch.setenv("GENBENCH_PLUGINS", ",".join(["genbench_toy", "genbench_faulty", *bad]))
    cli_reset()
    try:
        code, out, _ = genbench(capsys, "toy-params")
        assert code == 0 and out.strip() == "128"
        code, out, err = genbench(capsys, "runs", "--results-dir", str(results))
        assert code == 0 and "no runs yet" in out and "not the real runs" not in out, err
        for args in (["--help"], ["datasets"], ["run", "--help"], ["suite", "--help"]):
            code, _, err = genbench(capsys, *args)
            assert code == 0, (args, err)
        code, out, _ = genbench(capsys, "--version")
        assert code == 0 and out.startswith("genbench ")  # the root callback is still genbench's
        code, out, _ = genbench(capsys, "plugins", "--format", "json")
        errors = {r["entry_point"]: r["error"] or "" for r in json.loads(out)}
        assert "genbench_register_commands failed: SystemExit: no commands today" in errors[bad[0]]
        assert "genbench_register_commands failed: MixedAnnotatedAndDefaultStyleError" in errors[bad[1]]
        assert "command 'runs' is already registered by another plugin" in errors[bad[2]]
        assert errors[bad[3]] == ""  # its command is fine until it runs
        assert "replaced the root callback" in errors[bad[4]]
        assert errors["genbench_toy"] == "" and errors["genbench.cli.views"] == ""
        code, _, err = genbench(capsys, "twice")
        assert code == 2 and "No such command" in err
        code, _, err = genbench(capsys, "boom")
        assert code == 1 and "Traceback" not in err
        text = " ".join(err.split())
        assert (
            "plugin genbench_badcommands.raises dev failed while running `genbench boom`: ModuleNotFoundError" in text
        )
    finally:
        cli_reset()


def test_a_failing_core_view_registration_leaves_every_other_command(results, capsys, monkeypatch):
    """The core's views are a plugin like any other: if their registration fails, the rest still works."""
    from genbench import hookimpl
    from genbench.cli import views
    from genbench.plugins import get_plugins

    @hookimpl
    def broken(app) -> None:  # type: ignore[no-untyped-def]
        raise RuntimeError("the views are broken")

    monkeypatch.setattr(views, "genbench_register_commands", broken)
    monkeypatch.setenv("GENBENCH_PLUGINS", "genbench_toy")
    cli_reset()
    try:
        code, out, _ = genbench(capsys, "toy-params")
        assert code == 0 and out.strip() == "128"
        for args in (["--help"], ["run", "--help"], ["suite", "--help"], ["report", "--help"]):
            code, _, err = genbench(capsys, *args)
            assert code == 0, (args, err)
        code, _, err = genbench(capsys, "runs")
        assert code == 2 and "No such command" in err
        info = get_plugins().info_of("genbench.cli.views")
        assert info is not None and "genbench_register_commands failed: RuntimeError: the views are broken" in (
            info.error or ""
        )
    finally:
        cli_reset()


def test_clash_leaves_every_other_command_working(results, capsys, monkeypatch):
    monkeypatch.setenv("GENBENCH_PLUGINS", "genbench_toy,genbench_clash")
    cli_reset()
    try:
        for args in (["datasets"], ["metrics"], ["runs"], ["toy-params"]):
            code, _, err = (
                genbench(capsys, *args, "--results-dir", str(results)) if args == ["runs"] else genbench(capsys, *args)
            )
            assert code == 0, (args, err)
        code, out, err = genbench(capsys, "plugins")
        assert (
            code == 0 and "clash" in out and "model 'toy-pixel' is registered by two plugins" in " ".join(err.split())
        )
        code, _, err = genbench(capsys, *RUN, "--results-dir", str(results))
        assert_user_error(code, err, "'genbench_toy' and 'genbench_clash'", "uninstall one")
    finally:
        cli_reset()


@pytest.mark.parametrize("args", [["--help"], ["plugins"], ["models"], ["benchmarks"], ["datasets"]])
def test_start_up_does_not_import_torch(args):
    code = (
        "import sys\n"
        "from genbench import cli\n"
        f"sys.argv = ['genbench', *{args!r}]\n"
        "try:\n    cli.main()\nexcept SystemExit:\n    pass\n"
        "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip().splitlines()[-1] == "NO-TORCH", proc.stdout + proc.stderr


def test_every_command_the_docs_and_messages_point_at_exists(toy_plugins):
    """`genbench X` in README.md, CONTRIBUTING.md or any message in genbench/ names a real command."""
    import re

    import typer.main

    cli._add_plugin_commands()
    commands = set(typer.main.get_command(cli.app).commands)
    root = Path(__file__).parents[1]
    texts = [root / "README.md", root / "CONTRIBUTING.md", *sorted((root / "genbench").rglob("*.py"))]
    for path in texts:
        for name in re.findall(r"`genbench ([a-z][a-z-]*)", path.read_text()):
            assert name in commands, f"{path.name} points at `genbench {name}`, which does not exist"


def test_long_title_is_not_cut():
    import torch

    from genbench.report.images import _font, _text_size, grid_image

    title = "vae/cvae on digits - run 47218098 - budget smoke (2,048 images) - smoke: a plumbing check"
    img = grid_image(torch.zeros(8, 1, 8, 8), title=title)
    assert img.width >= _text_size(_font(14), title)[0] + 6


def test_metric_that_raises_names_its_plugin(toy_plugins, results, capsys, monkeypatch):
    import genbench_toy

    def broken(self, ctx):  # type: ignore[no-untyped-def]
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(genbench_toy.MeanGap, "compute", broken)
    code, _, err = genbench(capsys, "run", "toy", "--dataset", "toy-stripes", "--budget", "smoke", "--device", "cpu",
                            "--results-dir", str(results))  # fmt: skip
    assert code == 1 and "Traceback" not in err
    assert "plugin genbench_toy dev failed while computing metric 'toy-mean-gap': ZeroDivisionError" in " ".join(
        err.split()
    )


def test_progress_bars_on_a_terminal(toy_plugins, results, capsys, monkeypatch):
    import io

    from rich.console import Console

    screen = io.StringIO()
    monkeypatch.setattr(
        cli.output, "err_console", Console(file=screen, force_terminal=True, width=100, color_system=None)
    )
    code, _, _ = genbench(capsys, *RUN, "--results-dir", str(results))
    assert code == 0
    text = screen.getvalue()
    assert "training done; evaluating" in text and "sampling" in text and "metric nll" in text and "32/32" in text


def test_a_clash_on_a_familys_default_model_is_said_not_worked_around(results, capsys, monkeypatch):
    monkeypatch.setenv("GENBENCH_PLUGINS", "genbench_toy,genbench_clash")
    cli_reset()
    try:
        code, _, err = genbench(capsys, "run", "clash", "--dataset", "digits", "--results-dir", str(results))
        assert_user_error(code, err, "model 'toy-pixel' is registered by two plugins")
    finally:
        cli_reset()


def test_a_named_data_folder_is_used_not_a_copy_cached_from_elsewhere(
    toy_plugins, results, capsys, tmp_path, monkeypatch
):
    import genbench.data.torchvision_sets as tvs
    from genbench.errors import GenbenchError

    cached = tmp_path / "cache" / "unpacked" / "MNIST" / "raw"  # as if unpacked by an earlier run
    cached.mkdir(parents=True)
    for split in ("train", "t10k"):
        for kind in ("images-idx3", "labels-idx1"):
            (cached / f"{split}-{kind}-ubyte").write_bytes(b"")

    def offline(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise GenbenchError("MNIST files not found and download failed (offline)")

    monkeypatch.setattr(tvs, "_try_download", offline)
    empty = tmp_path / "my-data"
    empty.mkdir()
    args = [*RUN[:2], "--dataset", "mnist", "--data-dir", str(empty)]
    code, _, err = genbench(capsys, *args, "--results-dir", str(results))
    assert_user_error(code, err, "MNIST files not found")


def test_postgres_url_without_its_driver_is_one_line_naming_the_extra(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)
    code, _, err = genbench(capsys, "runs", "--db", "postgresql://bob:s3cret@db/x")
    assert_user_error(code, err, "pip install 'genbench[postgres]'", "bob:***@db")
    assert "s3cret" not in err and len(err.strip().splitlines()) == 1
