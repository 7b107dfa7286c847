"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}
    # Keep meta.schema_version in step, so genbench 0.1.0 refuses databases it cannot read.
    op.execute("UPDATE meta SET value = 'N' WHERE key = 'schema_version'")


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
