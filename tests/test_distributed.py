"""One run in several processes: torchrun + DDP on the CPU (gloo), against the same run in one process."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from genbench.engine.distributed import without_nproc
from genbench.testing import run_cli

# The toy model's noise off: its step is then deterministic, so 1 and 2 processes can be compared
# loss for loss; it has two optimizers and two backward passes per step (retain_graph).
TOY = ["toy", "--dataset", "digits", "--budget", "smoke", "--device", "cpu", "--set", "noise=0",
       "--set", "eval.num_samples=32", "--set", "eval.batch_size=8"]  # fmt: skip
# Four batches of samples: under 2 processes each rank draws two of them.
RTOL = 1e-4  # 1 vs 2 processes differ only in float reduction order (observed: ~1e-7)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(nproc: int, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}", "--master_port",
           str(free_port()), "-m", "genbench", *args]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def stored(results: Path) -> tuple[list[tuple], dict[tuple[int, str], float]]:
    """(runs as (id, status, images_seen, steps), losses by (step, name)) from a results folder's database."""
    with sqlite3.connect(results / "genbench.db") as db:
        runs = db.execute("select id, status, images_seen, steps from runs").fetchall()
        losses = {(step, name): v for step, name, v in db.execute("select step, name, value from losses")}
    return runs, losses


def metric_values(results: Path) -> dict[str, list[float]]:
    """Every stored value of each metric, in the order they were stored."""
    out: dict[str, list[float]] = {}
    with sqlite3.connect(results / "genbench.db") as db:
        for name, value in db.execute("select name, value from metrics order by id"):
            out.setdefault(name, []).append(value)
    return out


def assert_same(two: dict, one: dict) -> None:
    assert two and set(two) <= set(one)
    for key, value in two.items():
        assert value == pytest.approx(one[key], rel=RTOL), key


def one_process(capsys, results: Path) -> tuple[tuple, dict]:
    """The toy run in one process (in this one): what 2 processes must reproduce."""
    code, out, err = run_cli(capsys, "run", *TOY, "--results-dir", str(results))
    assert code == 0, err
    (run,), losses = stored(results)
    return run, losses


def test_a_two_process_run_resumes_in_one(toy_plugins, results, capsys):
    run1, one = one_process(capsys, results / "one")
    assert run1[1:3] == ("finished", 2048)

    two_dir = results / "two"
    proc = torchrun(2, "run", *TOY, "--results-dir", str(two_dir), "--stop-after-steps", "12")
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run2,), two = stored(two_dir)  # exactly one run: rank 1 stored nothing
    assert run2[1:] == ("interrupted", 12 * 64, 12)
    assert proc.stdout.count("run " + run2[0]) == 1  # rank 0 alone prints the outcome
    ckpt = torch.load(two_dir / "runs" / run2[0] / "checkpoint.pt", weights_only=True)
    assert ckpt["step"] == 12 and not any(k.startswith("module.") for k in ckpt["model"])
    assert_same(two, one)  # the global batch's mean loss, as one process logs it

    code, out, err = run_cli(capsys, "resume", run2[0], "--device", "cpu", "--results-dir", str(two_dir))
    assert code == 0, err
    (run2,), two = stored(two_dir)
    assert run2[1:3] == ("finished", 2048)
    assert set(two) == set(one)
    assert_same(two, one)


def test_a_one_process_run_resumes_in_two_that_share_the_sampling(toy_plugins, results, capsys):
    _, one = one_process(capsys, results / "one")
    two_dir = results / "two"
    code, out, err = run_cli(capsys, "run", *TOY, "--results-dir", str(two_dir), "--stop-after-steps", "12")
    assert code == 130, err  # stopped as a Ctrl-C stops it
    (run,), _ = stored(two_dir)
    proc = torchrun(2, "resume", run[0], "--device", "cpu", "--results-dir", str(two_dir))
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,), two = stored(two_dir)
    assert run[1:3] == ("finished", 2048)
    assert set(two) == set(one)
    assert_same(two, one)
    # Each rank drew and pushed through the classifier two of the four batches of 8 samples;
    # rank 0 extracted no more than its own.
    shown = proc.stdout + proc.stderr
    assert "sampling, process 1 of 2: 16 done" in shown
    assert "genbench-clf-digits features of samples, process 1 of 2: 16 done" in shown
    assert "features of samples:" not in shown
    # Rank 1 drew half of the evaluation's samples and extracted their features; one process
    # evaluating the same checkpoint does all of it itself, and must score the same (clf-* included).
    code, out, err = run_cli(capsys, "eval", run[0], "--device", "cpu", "--results-dir", str(two_dir))
    assert code == 0, err
    scores = metric_values(two_dir)
    assert {"clf-fd", "clf-score", "clf-precision"} <= set(scores)
    for name, (shared, alone) in scores.items():
        assert shared == pytest.approx(alone, rel=1e-6), name


def test_a_conditional_model_is_sampled_once_in_two_processes_as_in_one(results, capsys):
    """A class-conditional model's sample metrics and cond-acc read one set of samples, the
    class-balanced one, which the ranks share; one process evaluating alone scores the same
    (cgan's BatchNorm statistics included: each rank samples with rank 0's)."""
    cgan = ["gan", "--model", "cgan", "--dataset", "digits", "--budget", "smoke", "--device", "cpu",
            "--set", "eval.num_samples=32", "--set", "eval.batch_size=8", "--results-dir", str(results)]  # fmt: skip
    code, out, err = run_cli(capsys, "run", *cgan, "--stop-after-steps", "2")
    assert code == 130, err
    (run,), _ = stored(results)
    proc = torchrun(2, "resume", run[0], "--device", "cpu", "--results-dir", str(results))
    assert proc.returncode == 0, proc.stderr[-3000:]
    shown = proc.stdout + proc.stderr
    assert "sampling (conditional), process 1 of 2: 16 done" in shown
    assert "sampling, process" not in shown  # no unconditional draw
    code, out, err = run_cli(capsys, "eval", run[0], "--device", "cpu", "--results-dir", str(results))
    assert code == 0, err
    assert "sampling (conditional)" in err + out and "sampling:" not in err + out
    scores = metric_values(results)  # the two processes' values, then one process's
    assert {"clf-fd", "cond-acc"} <= set(scores)
    for name, values in scores.items():
        assert len(values) == 2 and values[1] == pytest.approx(values[0], rel=1e-6), name


def test_a_gan_trains_in_two_processes(results):
    """Two optimizers, a discriminator step that reaches no generator parameter, BatchNorm: the
    replicas stay bit-identical (the trainer checks it at every checkpoint, this stop's included)."""
    proc = torchrun(2, "run", "gan", "--model", "dcgan", "--dataset", "digits", "--budget", "smoke", "--device",
                    "cpu", "--stop-after-steps", "10", "--results-dir", str(results))  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,), losses = stored(results)
    assert run[1] == "interrupted" and run[3] == 10 and run[2] == 10 * (run[2] // 10) > 0
    assert {name for _, name in losses} >= {"d_loss", "g_loss"}  # logged at step 10, averaged over the ranks


def test_a_crashing_rank_ends_the_launch(toy_plugins, results):
    """Rank 1 raises mid-step while rank 0 waits on it in the gradient all-reduce: torchrun ends
    them both (no hang). Rank 0 stores the run as failed when gloo reports the lost peer first, else
    it is killed and the run goes stale; `genbench resume` continues either."""
    proc = torchrun(2, "run", *TOY, "--set", "crash_rank=1", "--results-dir", str(results))
    assert proc.returncode != 0
    # Rank 1 says in one line which plugin failed, as one process would: no traceback of ours.
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error: plugin")]
    assert len(lines) == 1, proc.stderr[-3000:]
    assert lines[0].startswith("error: plugin genbench_toy dev failed while training model 'toy' (rank 1 of 2)")
    assert "rank 1 crashes, as asked" in lines[0]
    assert not [line for line in proc.stderr.splitlines() if line.startswith("[rank") and "Traceback" in line]
    (run,), _ = stored(results)
    assert run[1] in ("failed", "running") and run[3] == 0
    with sqlite3.connect(results / "genbench.db") as db:
        (message,) = db.execute("select message from runs").fetchone()
    assert run[1] == "running" or message.startswith("another process of this torchrun launch stopped")


def test_nproc_needs_a_batch_that_splits_evenly(toy_plugins, results, capsys):
    code, out, err = run_cli(capsys, "run", *TOY, "--results-dir", str(results), "--nproc", "3")
    assert code == 2
    assert err.strip().startswith("error: the global batch of 64 images cannot be split evenly over 3 processes")
    assert "train.batch_size=63" in err and len(err.strip().splitlines()) == 1
    assert not (results / "genbench.db").exists()


def test_nproc_is_taken_out_of_the_relaunched_command():
    assert without_nproc(["run", "vae", "--nproc", "2", "-d", "mnist", "--nproc=4"]) == ["run", "vae", "-d", "mnist"]


EXIT_WAIT = """
import os, time
from datetime import timedelta
import torch
from genbench.engine import distributed
distributed.TIMEOUT = timedelta(seconds=2)  # the collectives' timeout, shortened for the test
distributed.join(torch.device("cpu"))
if os.environ["RANK"] == "0":
    time.sleep(6)  # rank 0 still computing the metrics, longer than that timeout
distributed.leave()
# One write(2) of a short line is atomic on a pipe: print() may split it, and two ranks'
# halves then interleave ("leftleft").
os.write(1, f"left {os.environ['RANK']}\\n".encode())
"""


def test_ranks_wait_at_the_end_for_rank_0_longer_than_the_collectives_timeout(tmp_path):
    """Ranks > 0 finish sampling and wait for rank 0 to compute the metrics (hours, for an NLL
    bound on a CPU): that wait must not time out like a hung collective and kill rank 0."""
    script = tmp_path / "exit_wait.py"
    script.write_text(EXIT_WAIT)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port", str(free_port()),
           str(script)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(proc.stdout.split()) == ["0", "1", "left", "left"]
