"""Opening the store: engine, schema creation/migration, and friendly errors."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event, inspect, select, text
from sqlalchemy.exc import DatabaseError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from genbench.errors import GenbenchError
from genbench.store.schema import SCHEMA_VERSION, Base, Meta, Run


def default_db_url(results_dir: str | Path) -> str:
    """``--db`` / ``$GENBENCH_DB``, else SQLite at ``<results>/genbench.db``."""
    return os.environ.get("GENBENCH_DB") or f"sqlite:///{Path(results_dir) / 'genbench.db'}"


def new_run_id() -> str:
    return uuid.uuid4().hex[:8]


class Store:
    """A run database. SQLite files get WAL journaling so concurrent runs can write safely."""

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite:///"):
            path = Path(url.removeprefix("sqlite:///"))
            if path.exists() and path.is_dir():
                raise GenbenchError(f"database path {path} is a folder: point --db at a file")
            if not path.parent.exists():
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise GenbenchError(f"cannot create {path.parent} for the database: {exc.strerror}") from None
        self.engine = create_engine(url, future=True)
        if self.engine.dialect.name == "sqlite":

            @event.listens_for(self.engine, "connect")
            def _sqlite_pragmas(conn, _record):  # type: ignore[no-untyped-def]
                cur = conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")  # readers never block the writing run
                cur.execute("PRAGMA busy_timeout=10000")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.close()

        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._init_schema()

    def _init_schema(self) -> None:
        try:
            names = set(inspect(self.engine).get_table_names())
            Base.metadata.create_all(self.engine)
            with self.session() as s:
                row = s.get(Meta, "schema_version")
                if row is None:
                    s.add(Meta(key="schema_version", value=str(SCHEMA_VERSION)))
                elif int(row.value) > SCHEMA_VERSION:
                    raise GenbenchError(
                        f"database {self.url} has schema v{row.value}, newer than this genbench "
                        f"(v{SCHEMA_VERSION}): upgrade genbench"
                    )
                # Older schema versions would be migrated here, one step at a time.
        except (DatabaseError, OperationalError) as exc:
            reason = str(exc.orig) if getattr(exc, "orig", None) else str(exc)
            raise GenbenchError(
                f"cannot open database {self.url}: {reason}; point --db/GENBENCH_DB at a genbench database "
                "or a new file"
            ) from None
        self.existed = bool(names)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as s, s.begin():
            yield s

    def get_run(self, run_id: str) -> Run:
        """A run by id or unique id prefix."""
        with self.session() as s:
            run = s.get(Run, run_id)
            if run is None:
                matches = s.scalars(select(Run).where(Run.id.like(f"{run_id}%"))).all()
                if len(matches) == 1:
                    run = matches[0]
                elif len(matches) > 1:
                    raise GenbenchError(f"run id '{run_id}' is ambiguous: give more characters")
            if run is None:
                raise GenbenchError(f"no run '{run_id}' in {self.url}; `genbench runs` lists them")
            # Load relationships before the session closes.
            run.metrics, run.artifacts  # noqa: B018
            return run

    def ping(self) -> None:
        with self.session() as s:
            s.execute(text("SELECT 1"))
