"""Alembic migrations of the run store; genbench.store.migrate runs them when a store opens."""
