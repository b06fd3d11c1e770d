"""A partial index on the events whose clips are kept as anomaly, for the retention sweep's
late-anomaly pass (it read every event of the table to find them).

The index holds only those events (about 1 % at the national scale's mix), so ingest pays
for it only when one arrives. Building it reads the events table once; on PostgreSQL writes
to ``events`` wait meanwhile (seconds per 10 M events).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None

# central.db.models.KEEP_KINDS_SQL when this revision was written
KEEP_KINDS_SQL = (
    "kind IN ('camera_fault', 'device_fault', 'fault_cleared', 'metal_detector_reject', "
    "'seal_broken')"
)


def upgrade() -> None:
    op.create_index(
        "ix_events_keep_kinds",
        "events",
        ["kind", "id"],
        postgresql_where=sa.text(KEEP_KINDS_SQL),
        sqlite_where=sa.text(KEEP_KINDS_SQL),
    )


def downgrade() -> None:
    op.drop_index("ix_events_keep_kinds", table_name="events")
