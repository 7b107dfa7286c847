"""metrics.ci_low/ci_high/ci_method: every metric value's 95% evaluation interval (issue 23).

Rows written before this revision keep NULL there: "no interval", never a made-up one.

Revision ID: i23_metric_intervals
Revises: i27_job_claims
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "i23_metric_intervals"
down_revision = "i27_job_claims"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("metrics") as batch:
        batch.add_column(sa.Column("ci_low", sa.Float(), nullable=True))
        batch.add_column(sa.Column("ci_high", sa.Float(), nullable=True))
        batch.add_column(sa.Column("ci_method", sa.String(64), nullable=True))
    # meta.schema_version follows the revision, so an older genbench refuses this database in one line.
    op.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")


def downgrade() -> None:
    with op.batch_alter_table("metrics") as batch:
        batch.drop_column("ci_method")
        batch.drop_column("ci_high")
        batch.drop_column("ci_low")
    op.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
