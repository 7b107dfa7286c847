"""runs.kind and runs.provenance: entries that are not runs genbench trained, and where a row came from.

``kind``: "trained" (genbench trained it), "samples" (images scored from a file by ``genbench
score``) or "pretrained" (a model evaluated without training). ``provenance``: where the entry
came from (host and commit of the machine that made it, the file and its sha256 for scored
samples, the export file and store it was imported from).

Revision ID: i24_entry_kind
Revises: i23_metric_intervals
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "i24_entry_kind"
down_revision = "i23_metric_intervals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="trained"))
        batch.add_column(sa.Column("provenance", sa.JSON, nullable=True))
    op.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("provenance")
        batch.drop_column("kind")
    op.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
