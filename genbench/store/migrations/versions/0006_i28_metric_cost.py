"""metrics.network_evaluations: what each metric value cost in network evaluations (issue 28).

``seconds`` (wall time) was stored from the start; the count of examples passed through the
model's networks (genbench.api.cost) joins it. Rows written before this revision keep NULL:
"unknown", never a made-up count.

Revision ID: i28_metric_cost
Revises: i24_entry_kind
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "i28_metric_cost"
down_revision = "i24_entry_kind"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("metrics") as batch:
        batch.add_column(sa.Column("network_evaluations", sa.BigInteger(), nullable=True))
    op.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")


def downgrade() -> None:
    with op.batch_alter_table("metrics") as batch:
        batch.drop_column("network_evaluations")
    op.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
