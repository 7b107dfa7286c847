"""Does the store tell the truth under concurrency, kill -9, a full disk and bad input? Prints a table.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/store_robustness.py --out /tmp/store-robust \
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres]

Every run is a tiny VAE on scikit-learn's digits (no files needed), through the real CLI
(``python -m genbench``), one process per command. Measured:

1. 8 concurrent first runs into one new SQLite file, and into one new PostgreSQL database
   (``--postgres`` names a server; a fresh database is created on it): finished / failed.
2. kill -9 while training, and while evaluating: the status ``genbench runs`` shows, whether
   ``resume`` finishes the run, and whether its metrics and weights equal an uninterrupted run's.
3. A full disk (a 2 MB tmpfs as the results folder; needs root): the run's status and message,
   no ``checkpoint.tmp``, the last checkpoint loads; then the tmpfs grows and ``resume`` finishes.
4. The bad-input cases of issue 14: how many exit 2 with one line and no traceback.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

TINY = ["--set", "hidden=8", "--set", "latent_dim=4", "--set", "iwae_k=8", "--set", "eval.num_samples=64"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "COLUMNS": "200"}
ENV.pop("GENBENCH_DB", None)


def cli(*args: str, env: dict | None = None, **kw) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
    cmd = [sys.executable, "-m", "genbench", *args]
    return subprocess.run(cmd, env=env or ENV, capture_output=True, text=True, **kw)


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "genbench", *args], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def rows(db: Path, query: str) -> list[tuple]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return con.execute(query).fetchall()
    except sqlite3.OperationalError:  # not created yet
        return []
    finally:
        con.close()


def one_line_exit_2(proc: subprocess.CompletedProcess) -> bool:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    return proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr + proc.stdout


# -- 1. concurrent first runs ----------------------------------------------------------------


def concurrent(out: Path, db_url: str | None, n: int = 8) -> tuple[int, int, list[str]]:
    results = out / ("concurrent-pg" if db_url else "concurrent-sqlite")
    extra = ["--db", db_url] if db_url else []
    procs = [
        start(
            "run",
            "vae",
            "-d",
            "digits",
            "-b",
            "smoke",
            "--seed",
            str(i),
            "--device",
            "cpu",
            "--results-dir",
            str(results),
            *TINY,
            *extra,
        )  # fmt: skip
        for i in range(n)
    ]
    errors = []
    codes = []
    for p in procs:
        _, err = p.communicate()
        codes.append(p.returncode)
        if p.returncode:
            errors.append(err.strip().splitlines()[-1] if err.strip() else f"exit {p.returncode}")
    listed = cli("runs", "--format", "json", "--results-dir", str(results), *extra)
    import json

    statuses = [r["status"] for r in json.loads(listed.stdout)] if listed.returncode == 0 else []
    return statuses.count("finished"), n - codes.count(0), errors


def new_pg_database(admin: str) -> str:
    import psycopg
    from sqlalchemy.engine import make_url

    base = make_url(admin)
    name = f"genbench_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base.set(drivername="postgresql").render_as_string(hide_password=False), autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    return base.set(database=name).render_as_string(hide_password=False)


# -- 2. kill -9 --------------------------------------------------------------------------------


def scores(db: Path, run_id: str) -> list[tuple[str, float]]:
    return sorted(rows(db, f"SELECT name, value FROM metrics WHERE run_id = '{run_id}'"))


def same_weights(a: Path, b: Path) -> bool:
    import torch

    x = torch.load(a, weights_only=True)["model"]
    y = torch.load(b, weights_only=True)["model"]
    return all(torch.equal(x[k], y[k]) for k in x)


def kill9(out: Path, when: str) -> dict[str, str]:
    """Start a quick-budget run, kill -9 it while ``when`` (training|evaluating), resume it."""
    results = out / f"kill-{when}"
    db = results / "genbench.db"
    args = ["-d", "digits", "-b", "quick", "--device", "cpu", "--results-dir", str(results), *TINY]
    if when == "evaluating":  # a longer evaluation, so the kill lands inside it
        args += ["--set", "iwae_k=256", "--set", "eval.num_samples=360"]
    ref = cli("run", "vae", *args)
    assert ref.returncode == 0, ref.stderr
    ((ref_id, ref_dir),) = rows(db, "SELECT id, run_dir FROM runs")
    victim = start("run", "vae", *args)
    target = "running" if when == "training" else "evaluating"
    deadline = time.time() + 600
    while time.time() < deadline and victim.poll() is None:
        live = rows(db, f"SELECT id, status, steps FROM runs WHERE id != '{ref_id}'")
        if live and live[0][1] == target and (when == "evaluating" or live[0][2] > 0):
            break
        time.sleep(0.02)
    # Frozen first (its process exists, its heartbeat stops): a resume now must be refused.
    os.kill(victim.pid, signal.SIGSTOP)
    ((run_id, status_db, steps),) = rows(db, f"SELECT id, status, steps FROM runs WHERE id != '{ref_id}'")
    early = cli("resume", run_id, "--device", "cpu", "--results-dir", str(results))
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    killed_at = time.time()
    while True:  # `genbench runs` until it shows the run dead
        listed = cli("runs", "--results-dir", str(results))
        shown = next((line for line in listed.stdout.splitlines() if run_id in line), "")
        if f"dead ({status_db})" in shown or time.time() - killed_at > 120:
            break
        time.sleep(1)
    known = time.time() - killed_at
    shown_status = f"dead ({status_db}) {known:.0f} s after the kill" if f"dead ({status_db})" in shown else shown
    resumed = cli("resume", run_id, "--device", "cpu", "--results-dir", str(results))
    ((final,),) = rows(db, f"SELECT status FROM runs WHERE id = '{run_id}'")
    run_dir = Path(rows(db, f"SELECT run_dir FROM runs WHERE id = '{run_id}'")[0][0])
    equal = scores(db, run_id) == scores(db, ref_id) and same_weights(Path(ref_dir) / "checkpoint.pt",
                                                                       run_dir / "checkpoint.pt")  # fmt: skip
    return {
        "killed while": when,
        "status in db": f"{status_db} (step {steps})",
        "resume while frozen (alive)": f"exit {early.returncode}: {(early.stderr.strip().splitlines() or [''])[-1]}",
        "`genbench runs` shows": shown_status,
        "resume": f"exit {resumed.returncode}, {final}",
        "equals uninterrupted run": "yes (metrics and weights)" if equal else "NO",
    }


# -- 3. full disk ------------------------------------------------------------------------------


def full_disk(out: Path) -> dict[str, str]:
    args = ["run", "vae", "-d", "digits", "-b", "smoke", "--device", "cpu", "--set", "eval.num_samples=64"]
    ref = out / "disk-ref"
    assert cli(*args, "--results-dir", str(ref)).returncode == 0
    ckpt = next(ref.glob("runs/*/checkpoint.pt")).stat().st_size
    db_bytes = sum(f.stat().st_size for f in ref.glob("genbench.db*"))
    # Room for the database and one checkpoint, not for the second one written beside it (.tmp).
    size_kb = (db_bytes + ckpt * 3 // 2) // 1024 + 64
    mnt = out / "tmpfs"
    mnt.mkdir(parents=True, exist_ok=True)
    mount = ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(mnt)]
    if subprocess.run(mount, capture_output=True).returncode:
        return {"full disk": "skipped: cannot mount a tmpfs (needs root)"}
    try:
        results = mnt / "results"
        proc = cli(*args, "--results-dir", str(results))
        db = results / "genbench.db"
        ((run_id, status, message, steps),) = rows(db, "SELECT id, status, message, steps FROM runs")
        run_dir = results / "runs" / run_id
        import torch

        ckpt_file = run_dir / "checkpoint.pt"
        kept = torch.load(ckpt_file, weights_only=True)["step"] if ckpt_file.exists() else None
        subprocess.run(["mount", "-o", "remount,size=64m", str(mnt)], check=True)
        resumed = cli("resume", run_id, "--device", "cpu", "--results-dir", str(results))
        ((final,),) = rows(db, f"SELECT status FROM runs WHERE id = '{run_id}'")
        return {
            "disk": f"tmpfs of {size_kb} KB (checkpoint {ckpt // 1024} KB, database {db_bytes // 1024} KB)",
            "exit, error lines, traceback": f"{proc.returncode}, {proc.stderr.count('error:')}, "
            f"{'Traceback' in proc.stderr}",
            "status, message": f"{status}: {message}",
            "checkpoint.tmp left": str((run_dir / "checkpoint.tmp").exists()),
            "last good checkpoint": f"step {kept} of {steps} recorded" if kept is not None else "MISSING",
            "resume after freeing space": f"exit {resumed.returncode}, {final}",
        }
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


# -- 4. bad input ------------------------------------------------------------------------------


def bad_inputs(out: Path, pg_admin: str | None) -> list[tuple[str, bool, str]]:
    results = out / "bad"
    base = ["run", "vae", "-d", "digits", "-b", "smoke", "--device", "cpu", "--results-dir", str(results)]
    ok_run = cli(*base, *TINY)
    assert ok_run.returncode == 0, ok_run.stderr
    db = results / "genbench.db"
    before = rows(db, "SELECT count(*) FROM runs")[0][0]

    foreign = out / "contacts.db"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE contacts (id INTEGER PRIMARY KEY, name TEXT)")
    con.commit()
    con.close()
    with_runs = out / "other-runs.db"
    con = sqlite3.connect(with_runs)
    con.execute("CREATE TABLE runs (id TEXT PRIMARY KEY, started REAL)")
    con.commit()
    con.close()
    newer = out / "newer.db"
    shutil.copy(db, newer)
    con = sqlite3.connect(newer)
    con.execute("UPDATE alembic_version SET version_num = 'ffff'")
    con.commit()
    con.close()
    a_file = out / "a-file"
    a_file.write_text("x")
    no_driver = ("import sys; sys.modules['psycopg'] = None; sys.argv = ['genbench'] + sys.argv[1:]; "
                 "from genbench.cli import main; main()")  # fmt: skip

    cases: list[tuple[str, list[str], dict | None]] = [
        ("train.batch_size=-5", [*base, "--set", "train.batch_size=-5"], None),
        ("train.amp=fp8", [*base, "--set", "train.amp=fp8"], None),
        ("train.checkpoint_every=-1", [*base, "--set", "train.checkpoint_every=-1"], None),
        ("lr=nan", [*base, "--set", "lr=nan"], None),
        ("lr=-1", [*base, "--set", "lr=-1"], None),
        ("train.batch_size=0", [*base, "--set", "train.batch_size=0"], None),
        ("train.log_every=0", [*base, "--set", "train.log_every=0"], None),
        ("hidden=-1", [*base, "--set", "hidden=-1"], None),
        ("eval.batch_size=0", [*base, "--set", "eval.batch_size=0"], None),
        ("iwae_k=0", [*base, "--set", "iwae_k=0"], None),
        ("--seed 10**23", [*base, "--seed", str(10**23)], None),
        ("eval.num_samples=10**9", [*base, "--set", f"eval.num_samples={10**9}"], None),
        ("show % (LIKE wildcard)", ["show", "%", "--results-dir", str(results)], None),
        ("show _ (LIKE wildcard)", ["show", "_", "--results-dir", str(results)], None),
        ("foreign SQLite db", ["runs", "--db", f"sqlite:///{foreign}"], None),
        ("foreign SQLite db with a runs table", ["runs", "--db", f"sqlite:///{with_runs}"], None),
        ("db from a newer genbench", ["runs", "--db", f"sqlite:///{newer}"], None),
        ("password in an unreachable db URL", ["runs", "--db", "postgresql://bob:s3cret@127.0.0.1:1/x"], None),
        (
            "GENBENCH_CACHE is a file (mnist)",
            ["run", "vae", "-d", "mnist", "-b", "smoke", "--results-dir", str(results)],
            {**ENV, "GENBENCH_CACHE": str(a_file)},
        ),  # fmt: skip
    ]
    found = []
    for label, args, env in cases:
        proc = cli(*args, env=env)
        ok = one_line_exit_2(proc)
        if label.startswith("password"):
            ok = ok and "s3cret" not in proc.stderr
        line = (proc.stderr.strip().splitlines() or [""])[-1]
        found.append((label, ok, line))
    proc = subprocess.run([sys.executable, "-c", no_driver, "runs", "--db", "postgresql://bob:s3cret@db/x"],
                          env=ENV, capture_output=True, text=True)  # fmt: skip
    found.append(("postgresql:// without psycopg", one_line_exit_2(proc) and "s3cret" not in proc.stderr,
                  proc.stderr.strip()))  # fmt: skip
    after = rows(db, "SELECT count(*) FROM runs")[0][0]
    found.append(("no run row written by any of them", after == before, f"{before} -> {after} runs"))
    tables = [r[0] for r in rows(foreign, "SELECT name FROM sqlite_master WHERE type = 'table'")]
    foreign_untouched = rows(foreign, "PRAGMA journal_mode") == [("delete",)] and tables == ["contacts"]
    found.append(("foreign db untouched (tables, journal mode)", foreign_untouched, ""))
    return found


def works_cases(out: Path) -> list[tuple[str, bool, str]]:
    """Cases that must work (exit 0), not fail."""
    results = out / "bad"
    found = []
    env = {**ENV, "GENBENCH_PLUGINS": "genbench.data.builtin"}
    proc = cli("datasets", env=env)
    listed = proc.returncode == 0 and "digits" in proc.stdout
    found.append(("GENBENCH_PLUGINS names a built-in: datasets still listed", listed, ""))
    ro = out / "ro"
    ro.mkdir(exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(ro)], capture_output=True).returncode == 0:
        try:
            shutil.copy(results / "genbench.db", ro / "genbench.db")
            subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
            listed = cli("runs", "--db", f"sqlite:///{ro / 'genbench.db'}")
            board = cli("leaderboard", "--db", f"sqlite:///{ro / 'genbench.db'}")
            found.append(("read-only archive: runs and leaderboard", listed.returncode == board.returncode == 0,
                          f"exit {listed.returncode}/{board.returncode}"))  # fmt: skip
        finally:
            subprocess.run(["umount", "-l", str(ro)], capture_output=True)
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/genbench-store-robustness"))
    ap.add_argument("--postgres", default=os.environ.get("GENBENCH_TEST_POSTGRES_URL"),
                    help="a PostgreSQL server URL (admin) on which a new database is created")  # fmt: skip
    ap.add_argument("--only", default="concurrent,kill,disk,bad")
    args = ap.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    only = set(args.only.split(","))
    print("| measure | result |\n| --- | --- |")
    if "concurrent" in only:
        t0 = time.time()
        fin, failed, errors = concurrent(args.out, None)
        print(f"| 8 concurrent first runs, new SQLite file | {fin}/8 finished, {failed} failed "
              f"({time.time() - t0:.0f} s){'; ' + errors[0] if errors else ''} |", flush=True)  # fmt: skip
        if args.postgres:
            t0 = time.time()
            fin, failed, errors = concurrent(args.out, new_pg_database(args.postgres))
            print(f"| 8 concurrent first runs, new PostgreSQL database | {fin}/8 finished, {failed} failed "
                  f"({time.time() - t0:.0f} s){'; ' + errors[0] if errors else ''} |", flush=True)  # fmt: skip
    if "kill" in only:
        for when in ("training", "evaluating"):
            for k, v in kill9(args.out, when).items():
                print(f"| kill -9 while {when}: {k} | {v} |", flush=True)
    if "disk" in only:
        for k, v in full_disk(args.out).items():
            print(f"| full disk: {k} | {v} |", flush=True)
    if "bad" in only:
        found = bad_inputs(args.out, args.postgres)
        for label, ok, line in found:
            print(f"| bad input: {label} | {'ok' if ok else 'NOT OK'}: {line.replace('|', '/')} |", flush=True)
        n = sum(ok for label, ok, _ in found[:-2])
        print(f"| bad-input cases that exit 2 with one line | {n} of {len(found) - 2} |")
        for label, ok, line in works_cases(args.out):
            print(f"| must work: {label} | {'ok' if ok else 'NOT OK'} {line} |", flush=True)


if __name__ == "__main__":
    main()
