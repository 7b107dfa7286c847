"""The CLI: bad input is one line on stderr, exit code 2, no traceback, nothing stored lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from genbench import cli


def genbench(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the console entry point in-process; returns (exit code, stdout, stderr)."""
    argv = sys.argv
    sys.argv = ["genbench", *args]
    try:
        cli.main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = argv
    out, err = capsys.readouterr()
    return code, out, err


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
    code, _, err = genbench(capsys, "run", "toy", "--dataset", "digits", "--budget", "huge", "--results-dir", str(results))
    assert code == 2 and "huge" in err and "Traceback" not in err


def test_missing_data_folder(toy_plugins, results, capsys, tmp_path):
    code, _, err = genbench(capsys, *RUN[:2], "--dataset", "mnist", "--data-dir", str(tmp_path / "nope"), "--results-dir", str(results))
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
    assert code == 0 and run_id in out and "samples:" in out and "loss loss:" in out
    code, out, _ = genbench(capsys, "leaderboard", "--format", "json", "--results-dir", str(results))
    board = json.loads(out)
    assert {r["metric"] for r in board} >= {"nll"} and all(r["runs"] == [run_id] for r in board)
    code, out, _ = genbench(capsys, "leaderboard", "--format", "csv", "--results-dir", str(results))
    assert out.splitlines()[0].startswith("dataset,benchmark")
    code, out, _ = genbench(capsys, "leaderboard", "--format", "markdown", "--results-dir", str(results))
    assert "| 1 | toy-pixel" in out


def test_listing_commands(toy_plugins, capsys):
    code, out, _ = genbench(capsys, "plugins")
    assert code == 0 and "genbench_toy" in out and "toy-pixel" in out
    code, out, _ = genbench(capsys, "datasets")
    assert code == 0 and "digits" in out and "mnist" in out
    code, out, _ = genbench(capsys, "metrics")
    assert code == 0 and "nll" in out and "lower is better" in out and "fingerprint fields" in out


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
    code, _, err = genbench(capsys, *RUN[:4], "--benchmark", "toy-conditional", "--budget", "smoke", "--results-dir", str(results))
    assert_user_error(code, err, "needs metric 'cond-acc'", "'conditional'", "toy-pixel")
    assert not (results / "runs").exists()


def test_plugins_can_add_commands(toy_plugins, capsys):
    code, out, _ = genbench(capsys, "toy-params")
    assert code == 0 and out.strip() == "128"


def test_postgres_url_without_its_driver_is_one_line_naming_the_extra(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)
    code, _, err = genbench(capsys, "runs", "--db", "postgresql://bob:s3cret@db/x")
    assert_user_error(code, err, "pip install 'genbench[postgres]'", "bob:***@db")
    assert "s3cret" not in err and len(err.strip().splitlines()) == 1
