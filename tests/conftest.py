"""Core test fixtures: the tiny fixture plugins under tests/plugins/ and isolated results folders."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

PLUGIN_DIR = Path(__file__).parent / "plugins"
sys.path.insert(0, str(PLUGIN_DIR))
os.environ["COLUMNS"] = "200"  # rich tables unwrapped, so tests can read them
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PLUGIN_DIR), os.environ.get("PYTHONPATH")]))


def _reset_plugins() -> None:
    from genbench.plugins import get_plugins

    get_plugins.cache_clear()


@pytest.fixture
def toy_plugins(monkeypatch: pytest.MonkeyPatch):
    """The installed plugins plus the toy fixture plugin."""
    monkeypatch.setenv("GENBENCH_PLUGINS", "genbench_toy")
    _reset_plugins()
    from genbench.plugins import get_plugins

    yield get_plugins()
    _reset_plugins()


@pytest.fixture
def results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh results folder and database for one test."""
    monkeypatch.delenv("GENBENCH_DB", raising=False)
    monkeypatch.setenv("GENBENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "results"


@pytest.fixture
def pg_url():
    """A new, empty PostgreSQL database for one test, on the server $GENBENCH_TEST_POSTGRES_URL names.

    Skipped when the variable is unset (.ci/run starts a server and sets it, so CI never skips).
    """
    import uuid

    admin = os.environ.get("GENBENCH_TEST_POSTGRES_URL")
    if not admin:
        pytest.skip("GENBENCH_TEST_POSTGRES_URL is not set (no PostgreSQL server to test against)")
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"genbench_test_{uuid.uuid4().hex[:10]}"
    base = make_url(admin.replace("postgresql+psycopg://", "postgresql://"))
    conninfo = base.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield base.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_password_url():
    """A new PostgreSQL database owned by a role that logs in with a password, as a URL holding
    that password (quoted characters included): $GENBENCH_TEST_POSTGRES_PASSWORD_URL names the role
    and $GENBENCH_TEST_POSTGRES_URL a superuser to create the database with (.ci/run sets both).
    Skipped when either is unset."""
    import uuid

    admin = os.environ.get("GENBENCH_TEST_POSTGRES_URL")
    with_password = os.environ.get("GENBENCH_TEST_POSTGRES_PASSWORD_URL")
    if not admin or not with_password:
        pytest.skip("GENBENCH_TEST_POSTGRES_URL / GENBENCH_TEST_POSTGRES_PASSWORD_URL not set (no password server)")
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"genbench_pw_test_{uuid.uuid4().hex[:10]}"
    user = make_url(with_password)
    conninfo = make_url(admin).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" OWNER "{user.username}"')
    yield user.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
