"""A database secret never reaches a command line, a log, a file another user can read, a report or an
error message: masking, the local executor, the cluster executor and PostgreSQL with a password."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy.engine import make_url

from genbench.store import Store
from genbench.store.schema import Run
from genbench.suite import load_suite
from genbench.suite.plan import plan
from genbench.testing import run_cli
from genbench.validate import mask_url

genbench = run_cli

TOY_SUITE = """
name: toy-secret
version: 1
device: cpu
budget: smoke
seeds: [0]
slurm: {time: 30, cpus_per_task: 1}
entries:
  - benchmark: digits
    models: [toy-pixel]
    set: [eval.num_samples=32, train.log_every=5, warn_above=1000000]
"""


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("postgresql://u:S3cret@host/db", "S3cret"),
        ("postgresql+psycopg://u:S3cret@host:5432/db", "S3cret"),
        ("postgresql://u:p%40ss%3Aw%2Frd@host/db", "p%40ss"),  # quoted '@', ':', '/'
        ("postgresql://u:p@ss@host/db", "p@ss"),  # a raw '@' in the password
        ("postgresql://u@host/db?password=S3cret", "S3cret"),  # in the query string
        ("postgresql://host/db?sslmode=require&password=S3cret&user=u", "S3cret"),
        ("postgresql://u@host/db?password=p@ss:w/rd?x%#&sslmode=require", "ss:w"),  # raw '@', '?', '#' in it
        ("postgresql://u:S3 cret@host/db", "S3"),  # a space: the whole --db value is one URL
        ("mysql+pymysql://u:S3cret@host/db?charset=utf8", "S3cret"),
    ],
)
def test_every_url_form_is_masked(url, secret):
    masked = mask_url(url)
    assert secret not in masked and "***" in masked, masked
    assert "host" in masked  # still says where the store is
    sentence = f"cannot open database {url}: connection refused."
    assert secret not in mask_url(sentence) and mask_url(sentence).endswith(": connection refused."), mask_url(sentence)


def test_a_masked_url_keeps_what_is_not_secret():
    assert mask_url("sqlite:///a/b.db") == "sqlite:///a/b.db"
    assert mask_url("postgresql://u@h/db?sslmode=require") == "postgresql://u@h/db?sslmode=require"
    assert mask_url("see http://example.org/x.") == "see http://example.org/x."


def test_an_error_message_from_the_cli_is_masked(capsys, results):
    code, out, err = genbench(capsys, "runs", "--db", "nosuchdialect://u:S3cret@host/db?password=Q2w", "--results-dir",
                              str(results))  # fmt: skip
    assert code == 2 and "S3cret" not in err + out and "Q2w" not in err + out, err
    assert len(err.strip().splitlines()) == 1


def test_local_jobs_get_the_url_through_the_environment_not_argv_or_the_log(toy_plugins, results, tmp_path,
                                                                            monkeypatch):  # fmt: skip
    from genbench.suite import executor

    path = tmp_path / "toy-secret.suite.yaml"
    path.write_text(TOY_SUITE)
    store = Store(f"sqlite:///{results / 'genbench.db'}")
    planned = plan(load_suite(path), toy_plugins, store)
    seen: list[tuple[list[str], dict[str, str]]] = []

    class Done:  # a job that ends at once, as a process would
        def __init__(self, cmd, stdout, stderr, env, start_new_session):  # type: ignore[no-untyped-def]
            seen.append((cmd, env))

        def poll(self) -> int:
            return 0

    monkeypatch.setattr(executor.subprocess, "Popen", Done)
    url = "postgresql://u:S3cret@db.example/genbench"
    executor.execute(planned, suite_name="toy-secret", store=store, results_dir=results, db_url=url, device="cpu",
                     poll_s=0.01)  # fmt: skip
    ((cmd, env),) = seen
    assert "--db" not in cmd and not any("S3cret" in a for a in cmd)
    assert env["GENBENCH_DB"] == url
    (log,) = (results / "suites" / "toy-secret" / "logs").iterdir()
    assert "S3cret" not in log.read_text() and "-m genbench run toy" in log.read_text()
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


def _files_holding(folder: Path, secrets: list[str]) -> list[Path]:
    hits = []
    for p in folder.rglob("*"):
        if p.is_file() and any(s.encode() in p.read_bytes() for s in secrets):
            hits.append(p)
    return hits


def _secrets_of(url: str) -> list[str]:
    password = make_url(url).password or ""
    assert password, "the password fixture's URL has a password"
    return [password, quote(password, safe="")]


def test_a_suite_on_postgresql_with_a_password_keeps_it_secret(toy_plugins, results, tmp_path, pg_password_url):
    # The real CLI in a real process (argv as `ps` shows it), its job a real `genbench run`.
    path = tmp_path / "toy-secret.suite.yaml"
    path.write_text(TOY_SUITE)
    env = dict(os.environ, GENBENCH_DB=pg_password_url, GENBENCH_PLUGINS="genbench_toy", OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "genbench", "suite", "run", str(path), "--results-dir", str(results)],
                          capture_output=True, text=True, env=env, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    secrets = _secrets_of(pg_password_url)
    assert not any(s in proc.stdout + proc.stderr for s in secrets)
    assert _files_holding(results, secrets) == []
    with Store(pg_password_url).session() as s:
        assert [r.status for r in s.query(Run).all()] == ["finished"]
    # A wrong password is one line that does not show the password given.
    bad = make_url(pg_password_url).set(password="Wr0ngPass").render_as_string(hide_password=False)
    proc = subprocess.run([sys.executable, "-m", "genbench", "runs", "--db", bad], capture_output=True, text=True,
                          env=env, timeout=120)  # fmt: skip
    assert proc.returncode == 2 and "Wr0ngPass" not in proc.stderr + proc.stdout, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_cluster_jobs_read_the_url_from_a_file_only_its_owner_reads(toy_plugins, results, tmp_path, capsys,
                                                                    pg_password_url):  # fmt: skip
    pytest.importorskip("submitit")
    path = tmp_path / "toy-secret.suite.yaml"
    path.write_text(TOY_SUITE)
    code, out, err = genbench(capsys, "suite", "run", str(path), "--executor", "submitit-local", "--results-dir",
                              str(results), "--db", pg_password_url)  # fmt: skip
    assert code == 0 and "1 of 1 done" in out, out + err
    secrets = _secrets_of(pg_password_url)
    folder = results / "suites" / "toy-secret" / "submitit"
    assert list(folder.rglob("*_submitted.pkl")), "submitit pickled the job"
    holding = _files_holding(results, secrets)
    assert holding == [folder / "store-url"], holding  # not the pickles, not the logs
    assert stat.S_IMODE((folder / "store-url").stat().st_mode) == 0o600
    assert not any(s in out + err for s in secrets)


def test_a_url_sqlalchemy_cannot_split_is_one_line_without_the_password(capsys, results):
    # A raw '@' and ':' in the password: SQLAlchemy reads "w" as the port and raises ValueError.
    url = "postgresql://u:a@bS3cret:w/rd@127.0.0.1:1/db"
    code, out, err = genbench(capsys, "runs", "--db", url, "--results-dir", str(results))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "S3cret" not in err + out and "quote '@'" in err
