"""The run store: SQLAlchemy models and a session factory. SQLite by default, any URL works."""

from genbench.store.db import Store, default_db_url

__all__ = ["Store", "default_db_url"]
