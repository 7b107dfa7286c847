"""Suites: versioned declarations, expansion to jobs, and an idempotent `genbench suite run`."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from genbench.errors import GenbenchError
from genbench.store import Store
from genbench.store.db import process_owner
from genbench.store.schema import Run, utcnow
from genbench.suite import load_suite, parse_seeds
from genbench.suite.plan import expand, fits, plan
from genbench.testing import run_cli

genbench = run_cli  # the console entry point in-process: (exit code, stdout, stderr)

TOY_SUITE = """
name: toy
version: 1
device: cpu
budget: smoke
seeds: [0, 1]
entries:
  - benchmark: digits
    models: [toy-pixel]
    set: [eval.num_samples=32, train.log_every=5]
"""


def write(tmp_path: Path, text: str, name: str = "toy.suite.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("name: x\nversion: 1\n", "malformed"),
        ("name: x\nversion: 1\nentries: []\n", "non-empty list"),
        ("name: x\nversion: 1\nentries: [{models: all}]\n", "needs a 'benchmark'"),
        ("name: x\nversion: 1\nentries: [{benchmark: digits, model: all}]\n", "unknown keys ['model']"),
        ("name: x\nversion: 1\nseeds: [a]\nentries: [{benchmark: digits}]\n", "seeds must be a list of integers"),
        ("name: x\nversion: 1\nentries: [{benchmark: digits, models: vae}]\n", "'models' must be 'all' or a list"),
    ],
)
def test_malformed_suite_files_say_what_is_wrong(tmp_path, text, needle):
    with pytest.raises(GenbenchError, match=None) as exc:
        load_suite(write(tmp_path, text))
    assert needle in str(exc.value)


def test_seeds_option():
    assert parse_seeds("0,2") == (0, 2) and parse_seeds("1-3") == (1, 2, 3)
    with pytest.raises(GenbenchError, match="--seeds x"):
        parse_seeds("x")


def test_builtin_suites_are_registered_through_the_benchmark_hook(toy_plugins):
    assert {"digits", "mnist-quick", "fashion-mnist-quick", "cifar10-standard"} <= set(toy_plugins.suites)
    assert toy_plugins.suites["cifar10-standard"].device == "cuda"
    assert "digits" in toy_plugins.benchmarks and "digits.suite" not in toy_plugins.benchmarks
    # "all" means every installed model whose capabilities fit: toy-pixel cannot sample conditionally.
    assert fits(toy_plugins, toy_plugins.models.get("toy-pixel"), "digits")
    assert not fits(toy_plugins, toy_plugins.models.get("toy-pixel"), "toy-conditional")
    jobs = expand(toy_plugins.suites["digits"], toy_plugins)
    assert {j.model for j in jobs if j.benchmark == "digits"} == {
        s.name for s in toy_plugins.models if fits(toy_plugins, s, "digits") and not s.requires_settings
    }
    assert "toy-pixel" in {j.model for j in jobs}
    assert {j.seed for j in jobs} == {0, 1, 2}  # digits runs three seeds by default: cheap, and ranks can pair them
    assert len(expand(toy_plugins.suites["digits"], toy_plugins, seeds=(0, 1))) == 2 * len({j.model for j in jobs})


def test_a_listed_model_that_cannot_be_scored_is_refused(toy_plugins, tmp_path):
    text = "name: x\nversion: 1\nbudget: smoke\nentries: [{benchmark: toy-conditional, models: [toy-pixel]}]"
    suite = load_suite(write(tmp_path, text))
    with pytest.raises(GenbenchError, match="cannot be scored on benchmark 'toy-conditional'"):
        expand(suite, toy_plugins)


def test_suite_run_is_idempotent_resumes_interrupted_and_restarts_dead_runs(toy_plugins, results, tmp_path, capsys):
    path = write(tmp_path, TOY_SUITE)
    Store(f"sqlite:///{results / 'genbench.db'}")  # one process creates the database before the jobs start
    code, out, err = genbench(capsys, "suite", "run", str(path), "--jobs", "2", "--results-dir", str(results))
    assert code == 0, out + err
    assert "2 of 2 done, 0 failed" in out
    store = Store(f"sqlite:///{results / 'genbench.db'}")
    with store.session() as s:
        runs = {r.seed: r for r in s.query(Run).all()}
    assert sorted(runs) == [0, 1] and all(r.status == "finished" for r in runs.values())
    # The suite's config hash is the one `genbench run` stored: nothing is run twice.
    suite = load_suite(path)
    assert {p.action for p in plan(suite, toy_plugins, store)} == {"done"}
    code, out, _ = genbench(capsys, "suite", "run", str(path), "--results-dir", str(results))
    assert code == 0 and "0 to run" in out

    # Seed 0 was interrupted (it has a checkpoint); seed 1's process died before its first checkpoint.
    with store.session() as s:
        s.get(Run, runs[0].id).status = "interrupted"
        dead = s.get(Run, runs[1].id)
        dead.status, dead.heartbeat = "running", utcnow() - timedelta(minutes=10)
    (Path(runs[1].run_dir) / "checkpoint.pt").unlink()
    assert [p.action for p in plan(suite, toy_plugins, store)] == ["resume", "restart"]
    code, out, _ = genbench(capsys, "suite", "status", str(path), "--results-dir", str(results))
    assert code == 0 and "resume" in out and "restart" in out
    code, out, err = genbench(capsys, "suite", "run", str(path), "--jobs", "2", "--results-dir", str(results))
    assert code == 0, out + err
    with store.session() as s:
        after = s.query(Run).all()
    by_id = {r.id: r for r in after}
    assert by_id[runs[0].id].status == "finished"  # resumed in place
    assert by_id[runs[1].id].status == "failed" and "started it again" in by_id[runs[1].id].message
    assert len(after) == 3 and sum(r.status == "finished" and r.seed == 1 for r in after) == 1
    logs = {p.name.split("-s")[-1][0]: p.read_text() for p in (results / "suites" / "toy" / "logs").glob("*.log")}
    assert f"genbench resume {runs[0].id}" in logs["0"] and "genbench run toy" in logs["1"]


def test_a_run_being_scored_is_running_and_a_dead_one_is_resumed(toy_plugins, results, tmp_path, capsys):
    path = write(tmp_path, TOY_SUITE)
    code, out, err = genbench(capsys, "suite", "run", str(path), "--results-dir", str(results))
    assert code == 0, out + err
    store = Store(f"sqlite:///{results / 'genbench.db'}")
    with store.session() as s:
        runs = sorted(s.query(Run).all(), key=lambda r: r.seed)
        # Seed 0 is being scored by a live process (this one); seed 1's process died while scoring.
        s.get(Run, runs[0].id).status, s.get(Run, runs[0].id).owner = "evaluating", process_owner()
        s.get(Run, runs[0].id).heartbeat = utcnow()
        dead = s.get(Run, runs[1].id)
        dead.status, dead.heartbeat = "evaluating", utcnow() - timedelta(minutes=10)
    assert [p.action for p in plan(load_suite(path), toy_plugins, store)] == ["running", "resume"]


def test_a_job_done_by_another_process_after_planning_is_not_run_again(toy_plugins, results, tmp_path, capsys):
    # Two `suite run`s (or a `genbench run` by hand) on one store: each plan is as old as its command.
    from genbench.suite.executor import execute, job_command

    path = write(tmp_path, TOY_SUITE)
    store = Store(f"sqlite:///{results / 'genbench.db'}")
    stale = plan(load_suite(path), toy_plugins, store)
    assert [p.action for p in stale] == ["start", "start"]
    seed0 = job_command(stale[0], device="cpu", results_dir=results, data_dir=None)
    code, out, err = genbench(capsys, *seed0[3:])  # [python, -m, genbench, run, ...]: the job's own command
    assert code == 0, out + err
    events: list[str] = []
    progress = execute(stale, suite_name="toy", store=store, results_dir=results, db_url=None, device="cpu",
                       on_event=events.append, poll_s=0.1)  # fmt: skip
    assert progress.done == 2 and progress.failed == 0
    started = [e for e in events if e.startswith("started")]
    assert len(started) == 1 and "seed 1" in started[0], events
    assert any(e.startswith("skipped") and "finished as run" in e for e in events), events
    with store.session() as s:
        assert sorted(r.seed for r in s.query(Run).all()) == [0, 1]  # seed 0 once, not twice


def test_suite_list_and_benchmarks_commands(toy_plugins, capsys):
    code, out, _ = genbench(capsys, "suite", "list")
    assert code == 0 and "digits" in out and "cifar10-standard" in out and "all models" in out
    code, out, _ = genbench(capsys, "benchmarks", "--format", "json")
    records = {r["benchmark"]: r for r in json.loads(out)}
    assert records["digits"]["budgets"]["quick"] == {"images": 20000, "eval_samples": 2000}
    assert "clf-fd" in records["digits"]["optional_metrics"]
    code, out, _ = genbench(capsys, "benchmarks")
    assert code == 0 and "20,000" in out and "images seen" in out


def test_unknown_suite_suggests(toy_plugins, results, capsys):
    code, _, err = genbench(capsys, "suite", "run", "digit", "--results-dir", str(results))
    assert code == 2 and "unknown suite 'digit'" in err and "did you mean 'digits'" in err
