"""Alembic environment: migrates the connection genbench hands over (see genbench.store.migrate).

Run by hand (``alembic -x url=sqlite:///results/genbench.db revision --autogenerate -m ...``
with ``script_location`` pointing here) it opens the URL given with ``-x url=``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from genbench.store.schema import Base

connection = context.config.attributes.get("connection")
if connection is not None:
    # Inside the caller's transaction (which holds the store's creation lock): no commit here.
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    url = context.get_x_argument(as_dictionary=True)["url"]
    with create_engine(url).connect() as conn:
        context.configure(connection=conn, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
