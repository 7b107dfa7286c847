"""A new user's first hour (issue #26): Ctrl-C, where things are stored, and the one-line errors."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from genbench.testing import run_cli

RUN = ["run", "toy", "--dataset", "digits", "--budget", "smoke", "--device", "cpu", "--set", "eval.num_samples=32"]


def one_line_error(code: int, err: str) -> str:
    assert code == 2, err
    assert "Traceback" not in err and "╭" not in err and "│" not in err, err  # no box, no traceback
    assert len(err.strip().splitlines()) == 1, err
    return err.strip()


# -- Ctrl-C ---------------------------------------------------------------------------------


def test_ctrl_c_while_training_exits_130_with_the_resume_command(toy_plugins, results, capsys, monkeypatch):
    import genbench_toy

    real_step = genbench_toy.ToyPixel.training_step

    def step_then_ctrl_c(self, batch, ctx):  # type: ignore[no-untyped-def]
        losses = real_step(self, batch, ctx)
        if ctx.step == 6:
            os.kill(os.getpid(), signal.SIGINT)  # what a terminal sends on Ctrl-C
        return losses

    monkeypatch.setattr(genbench_toy.ToyPixel, "training_step", step_then_ctrl_c)
    code, out, err = run_cli(capsys, *RUN, "--results-dir", str(results))
    assert code == 130, err
    run_id = json.loads(run_cli(capsys, "runs", "--format", "json", "--results-dir", str(results))[1])[0]["id"]
    assert f"genbench resume {run_id} --results-dir {results}" in " ".join(err.split())
    monkeypatch.setattr(genbench_toy.ToyPixel, "training_step", real_step)
    code, out, err = run_cli(capsys, "resume", run_id, "--device", "cpu", "--results-dir", str(results))
    assert code == 0 and "finished" in out, err


def test_ctrl_c_while_evaluating_exits_130_with_the_resume_command(toy_plugins, results, capsys, monkeypatch):
    import genbench.engine.runner as runner_mod

    monkeypatch.setattr(runner_mod, "evaluate", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    code, out, err = run_cli(capsys, *RUN, "--results-dir", str(results))
    assert code == 130, err
    assert "interrupted" in out and "genbench resume " in err and f"--results-dir {results}" in err


# -- where things are stored ---------------------------------------------------------------


def test_artifact_paths_are_absolute_and_show_finds_them_from_another_folder(
    toy_plugins, results, capsys, monkeypatch, tmp_path
):
    from genbench.store import Store, default_db_url

    monkeypatch.chdir(tmp_path)
    relative = Path(os.path.relpath(results, tmp_path))
    assert run_cli(capsys, *RUN, "--results-dir", str(relative))[0] == 0
    store = Store(default_db_url(results))
    (run,) = [store.get_run(r["id"]) for r in json.loads(run_cli(capsys, "runs", "--format", "json",
                                                                  "--results-dir", str(results))[1])]  # fmt: skip
    assert Path(run.run_dir).is_absolute() and run.artifacts
    assert all(Path(a.path).is_absolute() and Path(a.path).exists() for a in run.artifacts)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, out, _ = run_cli(capsys, "show", run.id, "--results-dir", str(results))
    assert code == 0 and f"artifacts in {Path(run.run_dir)}:" in out and "(missing)" not in out


def test_old_relative_artifact_rows_are_read_against_the_results_folder(toy_plugins, results, capsys, tmp_path):
    from sqlalchemy import update

    from genbench.store import Store, default_db_url
    from genbench.store.schema import Artifact

    assert run_cli(capsys, *RUN, "--results-dir", str(results))[0] == 0
    store = Store(default_db_url(results))
    run_id = json.loads(run_cli(capsys, "runs", "--format", "json", "--results-dir", str(results))[1])[0]["id"]
    with store.session() as s:  # as genbench stored them before: relative to the folder it ran in
        for art in s.query(Artifact).filter_by(run_id=run_id):
            s.execute(update(Artifact).where(Artifact.id == art.id).values(
                path=f"results/demo/runs/{run_id}/{Path(art.path).name}"))  # fmt: skip
    out_dir = tmp_path / "report"
    code, out, err = run_cli(capsys, "report", "--results-dir", str(results), "--out", str(out_dir))
    assert code == 0, err
    assert "missing" not in out
    copied = sorted(p.name for p in (out_dir / "img").iterdir())
    assert copied == sorted(f"{run_id}-{n}" for n in ("losses.png", "samples.png")), copied
    code, out, _ = run_cli(capsys, "show", run_id, "--results-dir", str(results))
    assert str((results / "runs" / run_id).resolve()) in out and "(missing)" not in out


def test_report_says_which_images_are_missing(toy_plugins, results, capsys, tmp_path):
    assert run_cli(capsys, *RUN, "--results-dir", str(results))[0] == 0
    run_id = json.loads(run_cli(capsys, "runs", "--format", "json", "--results-dir", str(results))[1])[0]["id"]
    gone = results / "runs" / run_id / "samples.png"
    gone.unlink()
    code, out, err = run_cli(capsys, "report", "--results-dir", str(results), "--out", str(tmp_path / "rep"))
    assert code == 0, err
    assert f"run {run_id}: image missing" in " ".join(out.split()) and str(gone.resolve()) in out
    page = (tmp_path / "rep" / "index.html").read_text()
    assert "samples: image missing at" in page and f"{run_id}-losses.png" in page


@pytest.mark.parametrize("command", [["show", "abc"], ["runs"], ["leaderboard"], ["report"]])
def test_read_only_commands_never_create_a_store(command, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GENBENCH_DB", raising=False)
    monkeypatch.delenv("GENBENCH_RESULTS", raising=False)
    code, out, err = run_cli(capsys, *command)
    assert not (tmp_path / "results").exists(), (out, err)
    if command[0] in ("show", "report"):
        assert "there is no store at results/genbench.db" in one_line_error(code, err)
    else:
        assert code == 0 and "no runs yet" in out


# -- one-line errors ------------------------------------------------------------------------


def test_no_run_suggests_the_command_that_lists_that_store(toy_plugins, results, capsys, monkeypatch):
    monkeypatch.delenv("GENBENCH_DB", raising=False)
    assert run_cli(capsys, *RUN, "--results-dir", str(results))[0] == 0
    err = one_line_error(*run_cli(capsys, "show", "deadbeef", "--results-dir", str(results))[::2])
    assert f"`genbench runs --results-dir {results}` lists them" in err
    url = f"sqlite:///{results / 'genbench.db'}"
    err = one_line_error(*run_cli(capsys, "show", "deadbeef", "--db", url)[::2])
    assert f"`genbench runs --results-dir {results}` lists them" in err  # the same file, said the short way
    other = results / "other.db"
    from genbench.store import Store

    Store(f"sqlite:///{other}")  # an empty store of another name
    err = one_line_error(*run_cli(capsys, "show", "deadbeef", "--db", f"sqlite:///{other}")[::2])
    assert f"`genbench runs --db sqlite:///{other}` lists them" in err


def test_a_misspelt_engine_setting_suggests_its_section(toy_plugins, results, capsys):
    err = one_line_error(*run_cli(capsys, *RUN, "--set", "train.batchsize=32", "--results-dir", str(results))[::2])
    assert "did you mean 'train.batch_size'?" in err


def test_an_unknown_budget_is_one_line_listing_the_budgets(toy_plugins, results, capsys):
    err = one_line_error(*run_cli(capsys, "run", "toy", "--dataset", "digits", "--budget", "tiny")[::2])
    assert "'tiny'" in err and all(b in err for b in ("smoke", "quick", "standard"))


def test_cifar10_missing_names_the_url_and_the_paths_searched(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    from genbench.data.torchvision_sets import load_cifar10
    from genbench.errors import GenbenchError

    def offline(self):  # type: ignore[no-untyped-def]
        raise OSError("no network")

    monkeypatch.setattr(tvd.CIFAR10, "download", offline)
    monkeypatch.setenv("GENBENCH_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "data"
    root.mkdir()
    with pytest.raises(GenbenchError) as info:
        load_cifar10(root)
    message = str(info.value)
    assert tvd.CIFAR10.url in message and str(root / "cifar-10-batches-py") in message
    assert "\n" not in message


def test_metrics_says_where_the_inception_weights_go(capsys, tmp_path, monkeypatch):
    from genbench.metrics.inception import INCEPTION_URL

    target = tmp_path / "inception.pth"
    monkeypatch.setenv("GENBENCH_INCEPTION_WEIGHTS", str(target))
    code, out, _ = run_cli(capsys, "metrics")
    text = " ".join(out.split())
    assert code == 0 and f"missing, looked for at {target}" in text and INCEPTION_URL in text
    target.write_bytes(b"x")
    _, out, _ = run_cli(capsys, "metrics")
    assert f"present, looked for at {target}" in " ".join(out.split())
