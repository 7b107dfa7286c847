"""`genbench suite run --executor slurm|submitit-local`: the cluster path, run through submitit's LocalExecutor."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from genbench.errors import GenbenchError
from genbench.store import Store
from genbench.store.schema import Run
from genbench.suite import load_suite
from genbench.suite.cluster import make_executor, parse_slurm_params, slurm_parameters
from genbench.suite.job import run_job
from genbench.testing import run_cli

pytest.importorskip("submitit")

genbench = run_cli

TWO_JOBS = """
name: toy-cluster
version: 1
device: cpu
budget: smoke
seeds: [0, 1]
slurm: {time: 30, cpus_per_task: 1}
entries:
  - benchmark: digits
    models: [toy-pixel]
    # warn_above's default, inf, is not valid JSON for PostgreSQL's json column (a store bug reported apart)
    set: [eval.num_samples=32, train.log_every=5, warn_above=1000000]
"""

FAILING = """
name: toy-failing
version: 1
device: cpu
budget: smoke
entries:
  - benchmark: digits
    models: [faulty-train]
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, results) -> str:
    if request.param == "postgresql":  # skipped unless GENBENCH_TEST_POSTGRES_URL names a server
        return request.getfixturevalue("pg_url")
    return f"sqlite:///{results / 'genbench.db'}"


def write(tmp_path: Path, text: str, name: str) -> Path:
    path = tmp_path / f"{name}.suite.yaml"
    path.write_text(text)
    return path


def test_slurm_settings_become_the_sbatch_lines(tmp_path, monkeypatch):
    srun = tmp_path / "bin" / "srun"  # submitit refuses to build a Slurm executor where srun is missing
    srun.parent.mkdir()
    srun.write_text("#!/bin/sh\nexit 0\n")
    srun.chmod(0o755)
    monkeypatch.setenv("PATH", f"{srun.parent}:{os.environ['PATH']}")
    params = parse_slurm_params(["partition=gpu", "time=60", "cpus-per-task=8", "mem=32G", "account=proj",
                                 "qos=high", "reservation=r1"])  # fmt: skip
    settings = slurm_parameters(params, suite_name="toy", device="cuda", jobs=4)
    assert settings["time"] == 60 and settings["cpus_per_task"] == 8 and settings["array_parallelism"] == 4
    executor = make_executor("slurm", tmp_path / "sub", settings)
    text = executor._executor._make_submission_file_text("python -m submitit.core._submit", "uid")
    lines = set(text.splitlines())
    for flag in ("--partition=gpu", "--time=60", "--cpus-per-task=8", "--mem=32G", "--account=proj", "--qos=high",
                 "--reservation=r1", "--gpus-per-node=1", "--job-name=genbench-toy"):  # fmt: skip
        assert f"#SBATCH {flag}" in lines, text
    assert not any(line.startswith("#SBATCH --error") for line in lines)  # one log per job: stderr into stdout
    assert f"#SBATCH --output={tmp_path / 'sub'}/%j/%j_0_log.out" in lines
    # On a CPU suite no GPU is asked for; a time in sbatch's own format passes through.
    cpu = slurm_parameters({"time": "1-00:00:00"}, suite_name="toy", device="cpu", jobs=None)
    assert "gpus_per_node" not in cpu and cpu["time"] == "1-00:00:00" and "array_parallelism" not in cpu


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--executor", "slurn"], "unknown executor 'slurn' (did you mean 'slurm'?)"),
        (["--executor", "slurm"], "SQLite is unsafe on a network filesystem"),
        (["--executor", "submitit-local", "--slurm-param", "partiton=gpu"], "did you mean 'partition'?"),
        (["--executor", "submitit-local", "--slurm-param", "partition"], "expected key=value"),
        (["--executor", "submitit-local", "--slurm-param", "cpus_per_task=many"], "expected a whole number"),
        (["--executor", "submitit-local", "--slurm-param", "output=x.log"], "set by genbench itself"),
        (["--slurm-param", "partition=gpu"], "--slurm-param needs --executor slurm"),
    ],
)
def test_bad_executor_input_is_one_line(toy_plugins, results, tmp_path, capsys, args, needle):
    path = write(tmp_path, TWO_JOBS, "toy-cluster")
    code, out, err = genbench(capsys, "suite", "run", str(path), "--results-dir", str(results), *args)
    assert code == 2 and needle in err, out + err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (results / "suites").exists()  # nothing was submitted


def test_suite_slurm_mapping_is_validated(tmp_path):
    with pytest.raises(GenbenchError, match="'slurm' must map sbatch settings"):
        load_suite(write(tmp_path, TWO_JOBS.replace("{time: 30, cpus_per_task: 1}", "[gpu]"), "bad"))
    assert load_suite(write(tmp_path, TWO_JOBS, "ok")).slurm == (("time", "30"), ("cpus_per_task", "1"))


def test_submitted_jobs_write_one_store_and_a_second_run_submits_nothing(toy_plugins, results, tmp_path, capsys,
                                                                         db_url):  # fmt: skip
    path = write(tmp_path, TWO_JOBS, "toy-cluster")
    args = ["--executor", "submitit-local", "--results-dir", str(results), "--db", db_url]
    code, out, err = genbench(capsys, "suite", "run", str(path), *args)
    assert code == 0, out + err
    assert "2 of 2 done, 0 failed" in out and "as cluster job" in out
    with Store(db_url).session() as s:
        runs = s.query(Run).all()
    assert sorted(r.seed for r in runs) == [0, 1] and {r.status for r in runs} == {"finished"}
    folder = results / "suites" / "toy-cluster" / "submitit"
    record = json.loads((folder / "jobs.json").read_text())
    assert len(record) == 2
    for entry in record.values():  # each job logged the genbench command it ran, without the store URL
        log = Path(entry["log"]).read_text()
        assert "$ " in log and "-m genbench run toy --model toy-pixel" in log and "--db" not in log
    job_dirs = sorted(p.name for p in folder.iterdir() if p.is_dir())

    code, out, err = genbench(capsys, "suite", "run", str(path), *args)
    assert code == 0 and "0 to run" in out and "submitted" not in out, out + err
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == job_dirs  # nothing new was submitted
    code, out, _ = genbench(capsys, "suite", "status", str(path), "--results-dir", str(results), "--db", db_url)
    assert code == 0 and "cluster job" in out and out.count("submitit-local ") == 2, out


def test_a_job_that_fails_on_the_cluster_is_reported_with_its_log(monkeypatch, results, tmp_path, capsys):
    monkeypatch.setenv("GENBENCH_PLUGINS", "genbench_toy,genbench_faulty")
    from genbench.plugins import get_plugins

    get_plugins.cache_clear()
    path = write(tmp_path, FAILING, "toy-failing")
    code, out, err = genbench(capsys, "suite", "run", str(path), "--executor", "submitit-local",
                              "--results-dir", str(results))  # fmt: skip
    get_plugins.cache_clear()
    assert code == 1, out + err
    assert "0 of 1 done, 1 failed" in out
    failed = [line for line in out.splitlines() if line.startswith("failed: faulty-train")]
    assert len(failed) == 1, out
    log = Path(failed[0].split(", log ")[-1].strip())
    assert log.is_file() and log.parent.parent == results.resolve() / "suites" / "toy-failing" / "submitit"
    text = log.read_text()
    assert "IndexError" in text and "exited with code" in text  # the run's own error, then the job's


CHILD = """
import os, signal, sys, time
got = []
signal.signal(signal.SIGINT, lambda *a: got.append("INT"))
open(sys.argv[1], "w").close()  # ready: the SIGINT handler is in place
deadline = time.time() + 30
while not got and time.time() < deadline:
    time.sleep(0.05)
time.sleep(0.3)  # a second SIGINT would arrive now
ignored = [signal.getsignal(s) == signal.SIG_IGN for s in (signal.SIGTERM, signal.SIGUSR2)]
print("got", got, "ignored", ignored, "db", os.environ["GENBENCH_DB"], flush=True)
"""


def test_a_job_turns_slurms_signals_into_one_sigint_for_its_command(tmp_path, capfd):
    script, ready = tmp_path / "child.py", tmp_path / "ready"
    script.write_text(CHILD)

    def scancel() -> None:  # Slurm's SIGTERM to the job once the command is up
        deadline = time.time() + 30
        while not ready.exists() and time.time() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    threading.Thread(target=scancel, daemon=True).start()
    url_file = tmp_path / "store-url"
    url_file.write_text("postgresql://u@h/db\n")
    run_job([sys.executable, str(script), str(ready)], str(url_file))
    assert "got ['INT'] ignored [True, True] db postgresql://u@h/db" in capfd.readouterr().out
    assert signal.getsignal(signal.SIGTERM) is before  # the job's handlers are undone
    with pytest.raises(RuntimeError, match="exited with code 3"):
        run_job([sys.executable, "-c", "raise SystemExit(3)"], str(url_file))
