"""Opening the store: engine, safe schema creation and migration, liveness of runs, friendly errors.

Creating or upgrading the schema happens in one transaction under a lock that every opener
takes first (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: an advisory transaction lock), so any
number of processes can open a brand-new store at once. Schema changes are Alembic revisions
packaged in ``genbench/store/migrations``.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, inspect, select, text, update
from sqlalchemy.exc import ArgumentError, DatabaseError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from genbench.errors import GenbenchError
from genbench.store.schema import LIVE_STATUSES, Run, utcnow
from genbench.validate import mask_url

# A live run rewrites its heartbeat every HEARTBEAT_SECONDS; one silent for STALE_AFTER is dead.
HEARTBEAT_SECONDS = 10.0
STALE_AFTER = timedelta(seconds=60)
# A run owned by a process of this host that no longer exists is dead once it has missed a beat
# (not at once: another machine may carry the same host name, and its run beats on time).
LOCAL_GRACE = timedelta(seconds=HEARTBEAT_SECONDS * 1.5)
BUSY_TIMEOUT_MS = 60_000  # SQLite: how long a writer waits for another one before giving up
GENBENCH_TABLES = {"meta", "runs", "metrics", "losses", "artifacts", "alembic_version", "job_claims"}
_PG_LOCK_KEY = 0x67656E62  # "genb": the advisory lock that serialises schema creation on PostgreSQL


def default_db_url(results_dir: str | Path) -> str:
    """``--db`` / ``$GENBENCH_DB``, else SQLite at ``<results>/genbench.db``."""
    return os.environ.get("GENBENCH_DB") or f"sqlite:///{Path(results_dir) / 'genbench.db'}"


def sqlite_file(url: str) -> Path | None:
    """The file of an ``sqlite:///PATH`` URL (None for other databases and in-memory SQLite)."""
    if url.startswith("sqlite:///") and "?" not in url and url != "sqlite:///:memory:":
        return Path(url.removeprefix("sqlite:///"))
    return None


def runs_command(display_url: str) -> str:
    """The command that lists the runs of the store at ``display_url`` (for messages)."""
    path = sqlite_file(display_url)
    if path is not None and path.name == "genbench.db" and not os.environ.get("GENBENCH_DB"):
        return "genbench runs" if path.parent == Path("results") else f"genbench runs --results-dir {path.parent}"
    return f"genbench runs --db {display_url}"


def new_run_id() -> str:
    return uuid.uuid4().hex[:8]


def process_owner() -> str:
    """This process, as stored in ``runs.owner``: host, pid and a random token."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_gone(owner: str | None) -> bool:
    """True when ``owner`` is a process on this host that no longer exists."""
    if not owner:
        return False
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, owned by another user
        return False
    return False


def is_dead(run: Run, now: datetime | None = None) -> bool:
    """A run that says it is running or evaluating, but whose process has stopped."""
    if run.status not in LIVE_STATUSES:
        return False
    silent = (now or utcnow()) - run.heartbeat
    return silent > STALE_AFTER or (silent > LOCAL_GRACE and owner_gone(run.owner))


def shown_status(run: Run) -> str:
    """The status to show a user: a live status whose process has died says so."""
    return f"dead ({run.status})" if is_dead(run) else run.status


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    return mask_url(str(orig if orig is not None else exc).strip().splitlines()[0])


class Store:
    """A run database. SQLite files get WAL journaling so concurrent runs can write safely.

    A database that belongs to another application is refused and left untouched. A
    read-only SQLite file (an archive) opens read-only: it can be listed and ranked.
    """

    def __init__(self, url: str, *, read_only: bool | None = None) -> None:
        self.url = url
        self.display_url = mask_url(url)
        self.writable = True
        self.existed = False
        url = self._driver_url(url)
        path: Path | None = None
        if url.startswith("sqlite:///") and "?" not in url:
            path = Path(url.removeprefix("sqlite:///"))
            self._check_sqlite_path(path)
            self.writable = _sqlite_writable(path) if read_only is None else not read_only
            if path.exists() and path.stat().st_size > 0:
                self._check_foreign(path)
            if not self.writable:
                # An archived file: open it without taking locks or creating -wal/-shm files.
                url = f"sqlite:///file:{path.resolve()}?immutable=1&uri=true"
        try:
            self.engine = create_engine(url, future=True)
        except (ArgumentError, NoSuchModuleError, ValueError, TypeError) as exc:
            # ValueError: a URL SQLAlchemy cannot split, e.g. a raw '@' or ':' in the password that
            # should have been quoted; its message may hold a piece of the password: not shown.
            if isinstance(exc, (ArgumentError, NoSuchModuleError)):
                why = _reason(exc)
            else:
                why = "SQLAlchemy cannot parse it (quote '@', ':', '/', '?', '#' and '%' in the password as %XX)"
            raise GenbenchError(f"cannot use database URL {self.display_url}: {why}") from None
        except ModuleNotFoundError as exc:
            raise GenbenchError(
                f"the database driver '{exc.name}' for {self.display_url} is not installed: pip install {exc.name}"
            ) from None
        self._read_engine = self.engine
        if self.engine.dialect.name == "sqlite":
            self._sqlite_transactions(self.engine, "BEGIN" if not self.writable else "BEGIN IMMEDIATE")
            # Reads take no write lock: a writer that hangs mid-transaction never blocks them.
            self._read_engine = create_engine(url, future=True)
            self._sqlite_transactions(self._read_engine, "BEGIN")
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(self._read_engine, expire_on_commit=False)
        self._init_schema()
        if path is not None and self.writable:
            self._use_wal()

    # -- opening -------------------------------------------------------------------------

    def _driver_url(self, url: str) -> str:
        """PostgreSQL goes through psycopg 3, which ``genbench[postgres]`` installs."""
        if url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
            try:
                import psycopg  # noqa: F401
            except ImportError:
                raise GenbenchError(
                    f"{self.display_url} needs the PostgreSQL driver: pip install 'genbench[postgres]'"
                ) from None
            return "postgresql+psycopg://" + url.partition("://")[2]
        return url

    @staticmethod
    def _check_sqlite_path(path: Path) -> None:
        if path.exists() and path.is_dir():
            raise GenbenchError(f"database path {path} is a folder: point --db at a file")
        if not path.parent.exists():
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise GenbenchError(f"cannot create {path.parent} for the database: {exc.strerror}") from None

    def _check_foreign(self, path: Path) -> None:
        """Refuse, without writing a byte, an SQLite file that is not a genbench store."""
        hint = "point --db/GENBENCH_DB at a genbench database or a new file"
        try:
            try:
                tables = _sqlite_tables(path, "mode=ro")
            except sqlite3.OperationalError:  # a WAL file in a read-only folder: read it as immutable
                tables = _sqlite_tables(path, "immutable=1")
        except sqlite3.DatabaseError as exc:
            raise GenbenchError(f"cannot open database {self.display_url}: {exc}; {hint}") from None
        if tables and "meta" not in tables:
            shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
            raise GenbenchError(
                f"{path} is another application's SQLite database (tables: {shown}); genbench leaves it "
                "alone: point --db at a genbench database or a new file"
            )

    @staticmethod
    def _sqlite_transactions(engine: Engine, begin: str) -> None:
        """Real transactions on SQLite (the sqlite3 module's own are off): BEGIN IMMEDIATE takes
        the write lock up front, so concurrent writers queue on busy_timeout instead of failing."""

        @event.listens_for(engine, "connect")
        def _connect(conn, _record):  # type: ignore[no-untyped-def]
            conn.isolation_level = None  # we emit BEGIN ourselves
            cur = conn.cursor()
            cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn):  # type: ignore[no-untyped-def]
            conn.exec_driver_sql(begin)

    def _init_schema(self) -> None:
        from genbench.store import migrate

        try:
            with self.engine.connect() as conn:
                if self.engine.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
                tables = set(inspect(conn).get_table_names())
                if tables and "meta" not in tables:
                    raise GenbenchError(
                        f"database {self.display_url} belongs to another application (tables: "
                        f"{', '.join(sorted(tables)[:5])}): point --db at a genbench database or a new one"
                    )
                self.existed = bool(tables)
                current = migrate.current_revision(conn, tables)
                migrate.check_known(current, self.display_url)
                if current != migrate.head():
                    if not self.writable:
                        raise GenbenchError(
                            f"database {self.display_url} is read-only and has schema {current}, older than "
                            f"{migrate.head()}: copy it somewhere writable and open it there to upgrade it"
                        )
                    migrate.upgrade(conn, current, tables)
                conn.commit()
        except GenbenchError:
            raise
        except (DatabaseError, OperationalError) as exc:
            reason = _reason(exc)
            if "locked" in reason or "busy" in reason:
                raise GenbenchError(
                    f"database {self.display_url} stayed locked by another process for "
                    f"{BUSY_TIMEOUT_MS // 1000} s: try again when its writes are done"
                ) from None
            hint = ""
            if "not a database" in reason or "malformed" in reason:
                hint = "; point --db/GENBENCH_DB at a genbench database or a new file"
            raise GenbenchError(f"cannot open database {self.display_url}: {reason}{hint}") from None

    def _use_wal(self) -> None:
        """Readers never block the writing run. Set once, by whoever gets there first."""
        raw = self.engine.raw_connection()
        try:
            cur = raw.cursor()
            if cur.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                try:
                    cur.execute("PRAGMA journal_mode=WAL")
                except sqlite3.OperationalError:
                    pass  # another opener is switching it right now
            cur.close()
        finally:
            raw.close()

    # -- use -----------------------------------------------------------------------------

    @contextmanager
    def session(self, *, write: bool = True) -> Iterator[Session]:
        """A transaction. ``write=False`` for reads: on SQLite it waits for no writer."""
        with (self._sessions if write else self._read_sessions)() as s, s.begin():
            yield s

    def require_writable(self) -> None:
        if not self.writable:
            raise GenbenchError(
                f"database {self.display_url} is read-only: it can be listed and ranked, "
                "not written; pass --db to a writable one"
            )

    def get_run(self, run_id: str) -> Run:
        """A run by id or unique id prefix (matched literally: no wildcards)."""
        with self.session(write=False) as s:
            run = s.get(Run, run_id)
            if run is None and run_id:
                prefix = func.substr(Run.id, 1, len(run_id)) == run_id
                matches = s.scalars(select(Run).where(prefix)).all()
                if len(matches) == 1:
                    run = matches[0]
                elif len(matches) > 1:
                    raise GenbenchError(f"run id '{run_id}' is ambiguous: give more characters")
            if run is None:
                raise GenbenchError(
                    f"no run '{run_id}' in {self.display_url}; `{runs_command(self.display_url)}` lists them"
                )
            # Load relationships before the session closes.
            run.metrics, run.artifacts  # noqa: B018
            return run

    def ping(self) -> None:
        with self.session() as s:
            s.execute(text("SELECT 1"))

    # -- liveness: one process per run ----------------------------------------------------

    def claim(self, run_id: str, owner: str, status: str = "running") -> bool:
        """Atomically make ``owner`` the live process of a run nobody is running. False if taken."""
        now = utcnow()
        with self.session() as s:
            row = s.get(Run, run_id)
            if row is None or row.status == "finished" or (row.status in LIVE_STATUSES and not is_dead(row, now)):
                return False
            # Compare-and-set on the values just read: a second claimer's UPDATE matches no row.
            done = s.execute(
                update(Run)
                .where(Run.id == run_id, Run.status == row.status, Run.heartbeat == row.heartbeat)
                .where(Run.owner.is_(None) if row.owner is None else Run.owner == row.owner)
                .values(status=status, owner=owner, heartbeat=now, message=None)
                .execution_options(synchronize_session=False)
            )
            return done.rowcount == 1

    def beat(self, run_id: str, owner: str, **values: Any) -> bool:
        """Refresh the heartbeat of a run ``owner`` holds (with ``values``); False if it lost the run."""
        with self.session() as s:
            done = s.execute(
                update(Run)
                .where(Run.id == run_id, Run.owner == owner)
                .values(heartbeat=utcnow(), **values)
                .execution_options(synchronize_session=False)
            )
            return done.rowcount == 1


def _sqlite_tables(path: Path, mode: str) -> set[str]:
    con = sqlite3.connect(f"file:{path.resolve()}?{mode}", uri=True)
    try:
        return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        con.close()


def _sqlite_writable(path: Path) -> bool:
    if path.exists():
        return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
    return os.access(path.parent, os.W_OK)


def open_existing(results_dir: str | Path, db: str | None) -> Store | None:
    """The store a read-only command reads: ``db`` when given, else the results folder's SQLite file.

    None when that SQLite file does not exist: reading never creates a store (nor its folder).
    """
    url = db or default_db_url(results_dir)
    path = sqlite_file(url)
    if path is not None and not path.exists():
        return None
    return Store(url)


def no_store_message(results_dir: str | Path, db: str | None) -> str:
    """What a read-only command says when there is no store where it looked."""
    url = db or default_db_url(results_dir)
    where = sqlite_file(url) or mask_url(url)
    return f"no runs yet: there is no store at {where} (`genbench run vae --dataset digits --budget smoke` makes one)"
