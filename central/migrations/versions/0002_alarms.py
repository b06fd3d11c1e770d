"""Sequence tracking on devices and the alarms table (sequence-gap alarm).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

TS = sa.DateTime(timezone=True)
ID = sa.String(64)
BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("seq_received", sa.JSON))
        batch.add_column(sa.Column("seq_gaps", sa.JSON))
    op.create_table(
        "alarms",
        sa.Column("id", BIGINT, primary_key=True, autoincrement=True),
        sa.Column("site", ID, nullable=False),
        sa.Column("device", ID, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("raised_at", TS, nullable=False),
        sa.Column("cleared_at", TS),
    )
    op.create_index("ix_alarms_device", "alarms", ["site", "device", "cleared_at"])


def downgrade() -> None:
    op.drop_index("ix_alarms_device", table_name="alarms")
    op.drop_table("alarms")
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("seq_gaps")
        batch.drop_column("seq_received")
