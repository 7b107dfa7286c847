"""The run store: concurrent first use, migrations, foreign and read-only files, literal ids, secrets."""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest

from genbench.errors import GenbenchError
from genbench.store import Store
from genbench.store.db import mask_url
from genbench.store.schema import SCHEMA_VERSION, Run

DATA = Path(__file__).parent / "data"
LEGACY_DB = DATA / "genbench-0.1.0.db"  # written by genbench 0.1.0; never edited
# One database per schema revision, each written by the genbench that introduced it (never edited):
# every later genbench must open them all. A new revision commits its own file here.
COMMITTED_DBS = sorted(DATA.glob("genbench-*.db"))


def a_run(run_id: str, status: str = "finished") -> Run:
    return Run(
        id=run_id, status=status, family="f", model="m", dataset="digits", benchmark="digits", benchmark_version=1,
        budget="smoke", budget_images=100, seed=0, config={}, config_hash="h", versions={}, device="cpu",
        hardware="cpu", run_dir="/tmp",
    )  # fmt: skip


def _open_and_write(url: str, run_id: str, barrier, errors) -> None:  # type: ignore[no-untyped-def]
    try:
        barrier.wait()
        store = Store(url)
        with store.session() as s:
            s.add(a_run(run_id))
    except BaseException as exc:  # reported to the parent
        errors.put(f"{run_id}: {type(exc).__name__}: {exc}")


def open_concurrently(url: str, n: int = 8) -> list[str]:
    """n processes open one brand-new store at the same instant and each writes a run."""
    ctx = mp.get_context("fork")
    barrier, errors = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_open_and_write, args=(url, f"r{i}", barrier, errors)) for i in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    found = []
    while not errors.empty():
        found.append(errors.get())
    assert all(p.exitcode == 0 for p in procs)
    return found


def test_many_first_users_of_a_new_sqlite_store(tmp_path):
    url = f"sqlite:///{tmp_path / 'new' / 'genbench.db'}"
    assert open_concurrently(url) == []
    store = Store(url)
    with store.session() as s:
        assert s.query(Run).count() == 8


def test_many_first_users_of_a_new_postgres_database(pg_url):
    assert open_concurrently(pg_url) == []
    with Store(pg_url).session() as s:
        assert s.query(Run).count() == 8


def _schema_diff(store: Store) -> list:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from genbench.store.schema import Base

    with store.engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)


def test_new_store_is_at_head_and_matches_the_models(tmp_path):
    from genbench.store import migrate

    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    assert _schema_diff(store) == []  # a model change without a migration fails here
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == migrate.head()


def test_database_of_genbench_0_1_0_opens_upgraded(tmp_path):
    from genbench.report.leaderboard import build_boards
    from genbench.store import migrate

    db = tmp_path / "old.db"
    shutil.copy(LEGACY_DB, db)
    store = Store(f"sqlite:///{db}")
    assert store.existed and _schema_diff(store) == []
    run = store.get_run("a1b2c3d4")
    assert run.status == "finished" and run.owner is None and [m.value for m in run.metrics] == [4.5]
    (board,) = build_boards(store)
    assert [r.value(board.column()).mean for r in board.ranked()] == [pytest.approx(4.4)]
    con = sqlite3.connect(db)
    assert con.execute("SELECT version_num FROM alembic_version").fetchall() == [(migrate.head(),)]
    assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall() == [(str(SCHEMA_VERSION),)]


@pytest.mark.parametrize("committed", COMMITTED_DBS, ids=lambda p: p.name)
def test_every_committed_database_opens_upgraded_and_ranked(tmp_path, committed):
    from genbench.report.leaderboard import build_boards

    db = tmp_path / committed.name
    shutil.copy(committed, db)
    store = Store(f"sqlite:///{db}")
    assert _schema_diff(store) == []
    assert store.get_run("a1b2c3d4").metrics[0].value == 4.5
    (board,) = build_boards(store)
    assert [r.value(board.column()).mean for r in board.ranked()] == [pytest.approx(4.4)]


def _before_intervals(db: Path) -> bool:
    """Whether a committed file was written before schema 3 (its metrics table has no ci_low)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return "ci_low" not in {row[1] for row in con.execute("PRAGMA table_info(metrics)")}
    finally:
        con.close()


@pytest.mark.parametrize("committed", [p for p in COMMITTED_DBS if _before_intervals(p)], ids=lambda p: p.name)
def test_values_stored_before_intervals_read_as_no_interval(tmp_path, committed):
    """Schema 3 added each value's interval: older rows get none (NULL), never a made-up one, and a new
    value with its interval is stored beside them."""
    from genbench.api.metric import Score
    from genbench.api.uncertainty import Interval
    from genbench.store.runs import RunWriter

    db = tmp_path / committed.name
    shutil.copy(committed, db)
    store = Store(f"sqlite:///{db}")
    (old,) = store.get_run("a1b2c3d4").metrics
    assert (old.ci_low, old.ci_high, old.ci_method, old.interval) == (None, None, None, None)
    score = Score("nll", 4.4, "min", "bits/dim", {"num_samples": 64}, "fp01", {}, 0.1, Interval(4.2, 4.6, "t"))
    RunWriter(store, "a1b2c3d4").add_scores([score])
    new = [m for m in store.get_run("a1b2c3d4").metrics if m.value == 4.4]
    assert [m.interval for m in new] == [Interval(4.2, 4.6, "t")]


def _before_cost(db: Path) -> bool:
    """Whether a committed file was written before schema 5 (its metrics table has no network_evaluations)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return "network_evaluations" not in {row[1] for row in con.execute("PRAGMA table_info(metrics)")}
    finally:
        con.close()


@pytest.mark.parametrize("committed", COMMITTED_DBS, ids=lambda p: p.name)
def test_metric_cost_of_committed_databases(tmp_path, committed):
    """Schema 5 added each value's network evaluations: older rows read as unknown (NULL) with the
    seconds they stored; a new value is stored with its count beside them."""
    from genbench.api.metric import Score
    from genbench.store.runs import RunWriter

    db = tmp_path / committed.name
    shutil.copy(committed, db)
    store = Store(f"sqlite:///{db}")
    (old,) = store.get_run("a1b2c3d4").metrics
    assert (old.seconds, old.network_evaluations) == (0.1, None if _before_cost(committed) else 6400)
    score = Score("nll", 4.4, "min", "bits/dim", {"num_samples": 64}, "fp01", {}, 2.5, None, 12_345_678_901)
    RunWriter(store, "a1b2c3d4").add_scores([score])
    (new,) = [m for m in store.get_run("a1b2c3d4").metrics if m.value == 4.4]
    assert (new.seconds, new.network_evaluations) == (2.5, 12_345_678_901)  # beyond 32 bits


def test_the_head_revision_has_a_committed_database():
    from genbench.store import migrate

    assert DATA / f"genbench-{migrate.head()}.db" in COMMITTED_DBS, (
        f"commit tests/data/genbench-{migrate.head()}.db, written by this schema (see tests/data/README.md)"
    )


def test_postgres_migrates_from_the_first_revision(pg_url):
    from alembic import command
    from sqlalchemy import create_engine

    from genbench.store import migrate

    engine = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:  # a database as genbench 0.1.0 left it, then a run in it
        cfg = migrate._config(conn)
        command.upgrade(cfg, migrate.LEGACY_REVISION)
        conn.exec_driver_sql("DROP TABLE alembic_version")
    store = Store(pg_url)
    assert store.existed and _schema_diff(store) == []
    with store.session() as s:
        s.add(a_run("p1"))
    assert store.get_run("p1").status == "finished"


def test_database_from_a_newer_genbench_is_refused(tmp_path):
    db = tmp_path / "future.db"
    Store(f"sqlite:///{db}")
    con = sqlite3.connect(db)
    con.execute("UPDATE alembic_version SET version_num = '9999'")
    con.commit()
    con.close()
    with pytest.raises(GenbenchError, match=r"written by a newer genbench \(schema revision 9999") as info:
        Store(f"sqlite:///{db}")
    assert "\n" not in str(info.value)


def _foreign(path: Path, *tables: str) -> bytes:
    con = sqlite3.connect(path)
    for t in tables:
        con.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, name TEXT)")
        con.execute(f"INSERT INTO {t} (name) VALUES ('x')")
    con.commit()
    con.close()
    return hashlib.sha256(path.read_bytes()).digest()


@pytest.mark.parametrize("tables", [("contacts", "notes"), ("runs",), ("runs", "metrics", "alembic_version")])
def test_another_applications_sqlite_file_is_refused_and_untouched(tmp_path, tables):
    db = tmp_path / "app.db"
    before = _foreign(db, *tables)
    with pytest.raises(GenbenchError, match="another application's SQLite database") as info:
        Store(f"sqlite:///{db}")
    assert "\n" not in str(info.value)
    assert hashlib.sha256(db.read_bytes()).digest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.db"]  # no -wal/-shm either
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_a_file_that_is_not_a_database_is_one_line(tmp_path):
    db = tmp_path / "notes.txt"
    db.write_text("hello " * 1000)
    with pytest.raises(GenbenchError, match="not a database"):
        Store(f"sqlite:///{db}")
    assert db.read_text() == "hello " * 1000


def test_read_only_archive_can_be_listed_and_ranked(tmp_path):
    from genbench.report.leaderboard import build_boards

    db = tmp_path / "archive" / "genbench.db"
    db.parent.mkdir()
    shutil.copy(LEGACY_DB, tmp_path / "x.db")
    Store(f"sqlite:///{tmp_path / 'x.db'}")  # upgraded while writable, then archived
    shutil.copy(tmp_path / "x.db", db)
    before = hashlib.sha256(db.read_bytes()).digest()
    db.chmod(0o444)
    db.parent.chmod(0o555)
    try:
        store = Store(f"sqlite:///{db}", read_only=True)  # what a non-root user gets from the mode bits
        assert not store.writable
        assert store.get_run("deadbeef").id == "deadbeef"
        assert len(build_boards(store)) == 1
        with pytest.raises(GenbenchError, match="is read-only"):
            store.require_writable()
    finally:
        db.parent.chmod(0o755)
    assert hashlib.sha256(db.read_bytes()).digest() == before


def test_read_only_archive_of_an_old_schema_is_one_line(tmp_path):
    db = tmp_path / "old.db"
    shutil.copy(LEGACY_DB, db)
    with pytest.raises(GenbenchError, match="is read-only and has schema 0001, older than"):
        Store(f"sqlite:///{db}", read_only=True)


def test_run_ids_are_matched_literally(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    with store.session() as s:
        s.add_all([a_run("ab12cd34"), a_run("ab99cd34")])
    assert store.get_run("ab1").id == "ab12cd34"
    for pattern in ("%", "_", "ab%", "a_12", "%34"):
        with pytest.raises(GenbenchError, match="no run"):
            store.get_run(pattern)
    with pytest.raises(GenbenchError, match="ambiguous"):
        store.get_run("ab")


def test_passwords_never_appear_in_messages(monkeypatch):
    masked = mask_url("cannot open postgresql://bob:s3cret@db:5432/x now")
    assert masked == "cannot open postgresql://bob:***@db:5432/x now"
    assert mask_url("sqlite:///a/b.db") == "sqlite:///a/b.db"
    with pytest.raises(GenbenchError) as info:  # nothing listens there: a connection error
        Store("postgresql://bob:s3cret@127.0.0.1:1/x")
    assert "s3cret" not in str(info.value) and "bob:***@" in str(info.value)
    with pytest.raises(GenbenchError) as info:
        Store("nosuchdb://bob:s3cret@host/x")
    assert "s3cret" not in str(info.value)


def test_postgres_without_its_driver_names_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg -> ImportError
    with pytest.raises(GenbenchError, match=r"pip install 'genbench\[postgres\]'") as info:
        Store("postgresql://bob:s3cret@localhost/x")
    assert "s3cret" not in str(info.value)


def test_only_one_process_can_claim_a_run(tmp_path):
    from datetime import timedelta

    from genbench.store.db import STALE_AFTER, is_dead

    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    with store.session() as s:
        s.add(a_run("x1", status="interrupted"))
    assert store.claim("x1", "host:1:a")
    assert not store.claim("x1", "host:2:b")  # live: its heartbeat is fresh
    assert store.beat("x1", "host:1:a")
    with store.session() as s:  # the owner went silent
        row = s.get(Run, "x1")
        row.heartbeat = row.heartbeat - STALE_AFTER - timedelta(seconds=1)
    assert is_dead(store.get_run("x1"))
    assert store.claim("x1", "host:2:b")
    assert not store.beat("x1", "host:1:a")  # the first owner learns it lost the run


def test_reads_wait_for_no_writer(tmp_path):
    import time

    db = tmp_path / "g.db"
    store = Store(f"sqlite:///{db}")
    with store.session() as s:
        s.add(a_run("x1"))
    hung = sqlite3.connect(db, isolation_level=None)
    hung.execute("BEGIN IMMEDIATE")  # a writer stuck mid-transaction (frozen, or slow)
    try:
        t0 = time.perf_counter()
        assert store.get_run("x1").status == "finished"
        with store.session(write=False) as s:
            assert s.query(Run).count() == 1
        assert time.perf_counter() - t0 < 5
    finally:
        hung.rollback()
        hung.close()
