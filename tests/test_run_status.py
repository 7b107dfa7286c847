"""A run's status is the truth: evaluating before finished, dead runs, one process per run, full disk."""

from __future__ import annotations

import errno
import time
from datetime import timedelta
from pathlib import Path

import pytest
import torch

from genbench.engine.checkpoint import load_checkpoint
from genbench.engine.runner import Runner, RunRequest
from genbench.errors import GenbenchError
from genbench.store.db import STALE_AFTER, is_dead, shown_status
from genbench.store.heartbeat import Heartbeat
from genbench.store.schema import MetricRecord, Run

SMOKE = ["train.batch_size=64", "train.log_every=2", "eval.num_samples=64"]


class Killed(BaseException):
    """Stands in for kill -9: nothing after it runs, no handler sees it."""


def run_toy(runner: Runner, *sets: str, stop: int = 0):
    req = RunRequest("toy", "digits", budget="smoke", sets=[*SMOKE, *sets], device="cpu", stop_after_steps=stop)
    return runner.run(req)


def age(runner: Runner, run_id: str) -> None:
    """The process that owned the run went silent long ago (and on another host)."""
    with runner.store.session() as s:
        row = s.get(Run, run_id)
        row.heartbeat = row.heartbeat - STALE_AFTER - timedelta(seconds=1)
        row.owner = "elsewhere:1:x"


def only_run(runner: Runner) -> Run:
    with runner.store.session() as s:
        (row,) = s.query(Run).all()
        return row


def test_killed_while_evaluating_is_not_finished_and_resumes_into_evaluation(toy_plugins, results, monkeypatch):
    import genbench.engine.runner as runner_mod

    full = run_toy(Runner(results / "a"))
    runner = Runner(results / "b")
    real = runner_mod.evaluate

    def killed(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise Killed

    monkeypatch.setattr(runner_mod, "evaluate", killed)
    with pytest.raises(Killed):
        run_toy(runner)
    row = only_run(runner)
    assert row.status == "evaluating" and row.images_seen == 2048
    with runner.store.session() as s:
        assert s.query(MetricRecord).count() == 0
    with pytest.raises(GenbenchError, match="is still evaluating"):  # its heartbeat is fresh
        runner.resume(row.id, device_name="cpu")
    age(runner, row.id)
    assert shown_status(runner.store.get_run(row.id)) == "dead (evaluating)"
    monkeypatch.setattr(runner_mod, "evaluate", real)
    out = runner.resume(row.id, device_name="cpu")
    assert out.run.status == "finished" and out.run.owner is None
    assert [(s.name, s.value) for s in out.scores] == [(s.name, s.value) for s in full.scores]
    assert sorted(m.name for m in out.run.metrics) == sorted(s.name for s in full.scores)


def test_ctrl_c_while_evaluating_leaves_an_interrupted_run_that_resumes(toy_plugins, results, monkeypatch):
    import genbench.engine.runner as runner_mod

    real = runner_mod.evaluate
    monkeypatch.setattr(runner_mod, "evaluate", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    runner = Runner(results)
    out = run_toy(runner)
    assert out.run.status == "interrupted" and "while evaluating" in out.run.message and out.run.owner is None
    monkeypatch.setattr(runner_mod, "evaluate", real)
    assert runner.resume(out.run.id, device_name="cpu").run.status == "finished"


def test_killed_while_training_is_dead_then_resumes_to_the_uninterrupted_result(toy_plugins, results, monkeypatch):
    import genbench_toy

    full = run_toy(Runner(results / "a"))
    real_step = genbench_toy.ToyPixel.training_step

    def step_then_die(self, batch, ctx):  # type: ignore[no-untyped-def]
        if ctx.step == 13:
            raise Killed
        return real_step(self, batch, ctx)

    monkeypatch.setattr(genbench_toy.ToyPixel, "training_step", step_then_die)
    runner = Runner(results / "b")
    with pytest.raises(Killed):
        run_toy(runner)
    row = only_run(runner)
    assert row.status == "running" and not is_dead(row)  # owned by this (live) process, fresh heartbeat
    with pytest.raises(GenbenchError, match="is still running"):
        runner.resume(row.id, device_name="cpu")
    age(runner, row.id)
    assert is_dead(runner.store.get_run(row.id))
    monkeypatch.setattr(genbench_toy.ToyPixel, "training_step", real_step)
    out = runner.resume(row.id, device_name="cpu")
    assert out.run.status == "finished"
    a = load_checkpoint(Path(full.run.run_dir) / "checkpoint.pt")["model"]
    b = load_checkpoint(Path(out.run.run_dir) / "checkpoint.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [s.value for s in out.scores] == [s.value for s in full.scores]


def test_a_dead_local_process_is_known_after_one_missed_beat(toy_plugins, results):
    import socket
    import subprocess

    from genbench.store.db import LOCAL_GRACE

    runner = Runner(results)
    out = run_toy(runner, stop=3)
    gone = subprocess.Popen(["true"])
    gone.wait()
    with runner.store.session() as s:
        row = s.get(Run, out.run.id)
        row.status, row.owner = "running", f"{socket.gethostname()}:{gone.pid}:x"
    # A fresh heartbeat wins over a missing pid: another machine may carry the same host name.
    assert shown_status(runner.store.get_run(out.run.id)) == "running"
    with runner.store.session() as s:
        row = s.get(Run, out.run.id)
        row.heartbeat = row.heartbeat - LOCAL_GRACE - timedelta(seconds=1)
    assert shown_status(runner.store.get_run(out.run.id)) == "dead (running)"  # well before STALE_AFTER


def test_heartbeat_beats_and_notices_a_takeover(toy_plugins, results):
    runner = Runner(results)
    out = run_toy(runner, stop=3)
    store = runner.store
    assert store.claim(out.run.id, "me:1:a")
    first = store.get_run(out.run.id).heartbeat
    with Heartbeat(store, out.run.id, "me:1:a", interval=0.05) as beat:
        time.sleep(0.3)
        assert store.get_run(out.run.id).heartbeat > first and not beat.lost
        age(runner, out.run.id)  # frozen past the limit: another process takes the run
        assert store.claim(out.run.id, "thief:2:b")
        time.sleep(0.3)
        assert beat.lost and "taken over by another process" in beat.why_stop()


def test_a_run_taken_over_stops_without_writing(toy_plugins, results, monkeypatch):
    import genbench_toy

    import genbench.store.heartbeat as hb

    monkeypatch.setattr(hb, "HEARTBEAT_SECONDS", 0.02)
    real_step = genbench_toy.ToyPixel.training_step
    runner = Runner(results)

    def step_then_lose(self, batch, ctx):  # type: ignore[no-untyped-def]
        if ctx.step == 5:
            with runner.store.session() as s:
                s.query(Run).update({"owner": "thief:2:b"})
            time.sleep(0.2)
        return real_step(self, batch, ctx)

    monkeypatch.setattr(genbench_toy.ToyPixel, "training_step", step_then_lose)
    with pytest.raises(GenbenchError, match="taken over by another process"):
        run_toy(runner)
    row = only_run(runner)
    assert row.owner == "thief:2:b" and row.status == "running"


def test_full_disk_fails_the_run_in_one_line_and_keeps_the_last_checkpoint(toy_plugins, results, monkeypatch):
    import genbench.engine.checkpoint as ckpt

    real_save = torch.save
    calls = []

    def save_until_full(obj, f):  # type: ignore[no-untyped-def]
        calls.append(f)
        if len(calls) >= 2:
            f.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device", f.name)
        return real_save(obj, f)

    monkeypatch.setattr(ckpt.torch, "save", save_until_full)
    runner = Runner(results)
    with pytest.raises(GenbenchError, match="disk full while training") as info:
        run_toy(runner)
    assert "\n" not in str(info.value)
    row = only_run(runner)
    assert row.status == "failed" and row.message == str(info.value) and row.owner is None
    run_dir = Path(row.run_dir)
    assert not (run_dir / "checkpoint.tmp").exists()
    assert load_checkpoint(run_dir / "checkpoint.pt")["step"] == 8  # the first (quarter-budget) checkpoint
    monkeypatch.setattr(ckpt.torch, "save", real_save)
    assert runner.resume(row.id, device_name="cpu").run.status == "finished"  # space freed: carry on


BAD_SETTINGS = [
    (["train.batch_size=-5"], "train.batch_size=-5 is out of range"),
    (["train.batch_size=0"], "train.batch_size=0 is out of range"),
    (["train.amp=fp8"], "must be one of none, bf16, fp16"),
    (["train.checkpoint_every=-1"], "train.checkpoint_every=-1 is out of range"),
    (["train.log_every=0"], "train.log_every=0 is out of range"),
    (["train.grad_clip=nan"], "train.grad_clip=nan is out of range"),
    (["eval.batch_size=0"], "eval.batch_size=0 is out of range"),
    (["eval.num_samples=10000000"], "eval.num_samples=10000000 is out of range"),
    (["eval.seed=-1"], "eval.seed=-1 is out of range"),
    (["lr=nan"], "lr=nan is out of range"),  # the toy model declares no range: NaN is still refused
]


@pytest.mark.parametrize("sets,message", BAD_SETTINGS)
def test_bad_settings_are_refused_before_anything_is_written(toy_plugins, results, sets, message):
    runner = Runner(results)
    with pytest.raises(GenbenchError, match=message.replace("(", r"\(")) as info:
        run_toy(runner, *sets)
    assert "\n" not in str(info.value)
    assert not (results / "runs").exists() and not (results / "genbench.db").exists()


def test_seed_out_of_range_is_refused(toy_plugins, results):
    runner = Runner(results)
    for seed in (10**23, -1, 2**31):
        with pytest.raises(GenbenchError, match=f"--seed {seed} is out of range"):
            runner.run(RunRequest("toy", "digits", budget="smoke", seed=seed, sets=SMOKE, device="cpu"))
    assert not (results / "genbench.db").exists()


def test_eval_settings_are_checked_too(toy_plugins, results):
    runner = Runner(results)
    out = run_toy(runner)
    with pytest.raises(GenbenchError, match="eval.batch_size=0 is out of range"):
        runner.evaluate(out.run.id, ["eval.batch_size=0"], device_name="cpu")
