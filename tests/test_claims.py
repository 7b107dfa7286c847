"""One job, one run: suite runners claim each job in the store before they start it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import timedelta

import pytest

from genbench.store import Store
from genbench.store.claims import JobClaims
from genbench.store.db import STALE_AFTER
from genbench.store.schema import JobClaim, Run, utcnow


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, results) -> str:
    if request.param == "postgresql":  # a role with a password (skipped unless .ci/run's server is up)
        return request.getfixturevalue("pg_password_url")
    results.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{results / 'genbench.db'}"


def test_a_claim_is_held_by_one_runner_until_released_or_stale(db_url):
    store = Store(db_url)
    a, b = JobClaims(store, "host-a:1:aaaa"), JobClaims(store, "host-b:2:bbbb")
    assert a.claim("job-1") and not b.claim("job-1")
    assert a.claim("job-1")  # claiming again what one holds
    assert b.claim("job-2") and not a.claim("job-2")
    a.release(["job-1"])
    assert b.claim("job-1")
    # b stops beating (its process froze or died on another host): after STALE_AFTER, a takes over.
    with store.session() as s:
        s.get(JobClaim, "job-2").heartbeat = utcnow() - STALE_AFTER - timedelta(seconds=1)
    assert a.claim("job-2") and not b.claim("job-2")
    b.beat()  # beating a claim b lost does not win it back
    with store.session() as s:
        assert s.get(JobClaim, "job-2").owner == "host-a:1:aaaa"
    a.release_all()
    b.release_all()
    with store.session() as s:
        assert s.query(JobClaim).count() == 0


def test_a_claim_of_a_process_gone_from_this_host_is_taken_over(db_url):
    import socket

    store = Store(db_url)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone = JobClaims(store, f"{socket.gethostname()}:{dead.pid}:dead")
    assert gone.claim("job")
    alive = JobClaims(store, "other:1:live")
    assert not alive.claim("job")  # fresh: it may just be slow
    with store.session() as s:
        s.get(JobClaim, "job").heartbeat = utcnow() - timedelta(seconds=20)  # one beat missed
    assert alive.claim("job")


SUITE = """
name: toy-race
version: 1
device: cpu
budget: smoke
seeds: [0, 1, 2]
entries:
  - benchmark: digits
    models: [toy-pixel]
    set: [eval.num_samples=32, train.log_every=5, warn_above=1000000]
"""


def test_two_suite_runners_started_together_run_each_job_once(toy_plugins, results, tmp_path, db_url):
    path = tmp_path / "toy-race.suite.yaml"
    path.write_text(SUITE)
    Store(db_url)  # the schema exists before the race: the race is about jobs, not schema creation
    env = dict(os.environ, GENBENCH_DB=db_url, GENBENCH_PLUGINS="genbench_toy", OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "genbench", "suite", "run", str(path), "--results-dir", str(results)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
             for _ in range(2)]  # fmt: skip
    outs = [p.communicate(timeout=900)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    with Store(db_url).session() as s:
        runs = s.query(Run).all()
        claims = s.query(JobClaim).count()
    per_seed = Counter(r.seed for r in runs)
    assert per_seed == {0: 1, 1: 1, 2: 1}, (per_seed, outs)  # every job run once, by one of the two
    assert {r.status for r in runs} == {"finished"} and claims == 0  # claims released at the end
    started = sum(out.count(" started ") for out in outs)
    assert started == 3, outs


def test_a_cluster_runner_submits_nothing_another_runner_holds(toy_plugins, results, tmp_path, db_url):
    pytest.importorskip("submitit")
    from genbench.suite import load_suite
    from genbench.suite.cluster import execute_cluster
    from genbench.suite.plan import plan

    path = tmp_path / "toy-race.suite.yaml"
    path.write_text(SUITE)
    store = Store(db_url)
    planned = plan(load_suite(path), toy_plugins, store)
    other = JobClaims(store, "login-node-2:4242:other")  # another `suite run --executor slurm`, still alive
    assert all(other.claim(p.job.key) for p in planned)
    events: list[str] = []
    progress = execute_cluster(planned, kind="submitit-local", suite_name="toy-race", store=store,
                               results_dir=results, db_url=db_url, device="cpu", params={}, on_event=events.append,
                               poll_s=0.01)  # fmt: skip
    assert progress.elsewhere == 3 and progress.done == 0 and progress.failed == 0
    assert not any(e.startswith("submitted") for e in events), events
    assert not (results / "suites" / "toy-race" / "submitit" / "jobs.json").exists()
    with store.session() as s:
        assert {c.owner for c in s.query(JobClaim)} == {"login-node-2:4242:other"}  # its claims untouched
