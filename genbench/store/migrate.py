"""Schema revisions through Alembic, run on a connection that already holds the creation lock."""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from genbench.errors import GenbenchError

MIGRATIONS = Path(__file__).parent / "migrations"
LEGACY_REVISION = "0001"  # genbench 0.1.0 wrote this schema, with meta.schema_version = 1 and no alembic_version


def _config(conn: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if conn is not None:
        cfg.attributes["connection"] = conn
    return cfg


@functools.cache
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head() -> str:
    """The newest revision this genbench knows."""
    return _script().get_current_head() or ""


def current_revision(conn: Connection, tables: set[str]) -> str | None:
    """The database's revision; None for an empty database."""
    if "alembic_version" in tables:
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    if "meta" in tables:
        return LEGACY_REVISION
    return None


def check_known(revision: str | None, shown_url: str) -> None:
    """A revision this genbench does not know comes from a newer genbench: refuse it."""
    if revision is None:
        return
    try:
        known = _script().get_revision(revision) is not None
    except Exception:  # alembic raises for unknown ids
        known = False
    if not known:
        raise GenbenchError(
            f"database {shown_url} was written by a newer genbench (schema revision {revision}; this one "
            f"knows up to {head()}): upgrade genbench, e.g. pip install -U genbench"
        )


def upgrade(conn: Connection, current: str | None, tables: set[str]) -> None:
    """Bring the database from ``current`` to head inside the caller's transaction."""
    cfg = _config(conn)
    if current == LEGACY_REVISION and "alembic_version" not in tables:
        command.stamp(cfg, LEGACY_REVISION)  # a 0.1.0 database: record what it already has
    command.upgrade(cfg, "head")
