"""runs.owner: which process holds a live run (host:pid:token), so one run is never trained twice.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("owner", sa.String(128), nullable=True))
    # meta.schema_version follows the revision, so genbench 0.1.0 refuses this database in one line.
    op.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("owner")
    op.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
