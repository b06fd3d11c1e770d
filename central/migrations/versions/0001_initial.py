"""Initial tables: users, devices, events, transfers, clips, clip_events, audit.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

TS = sa.DateTime(timezone=True)
ID = sa.String(64)
BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", ID, nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint("role IN ('admin', 'monitor')", name="ck_users_role"),
    )
    op.create_table(
        "devices",
        sa.Column("site_id", ID, primary_key=True),
        sa.Column("device_id", ID, primary_key=True),
        sa.Column("last_seen", TS),
        sa.Column("last_seq", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("clock_synced", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("status", sa.String(16), nullable=False, server_default="offline"),
        sa.Column("version", sa.String(64)),
    )
    op.create_table(
        "events",
        sa.Column("id", ID, primary_key=True),
        sa.Column("site", ID, nullable=False),
        sa.Column("device", ID, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("occurred_offset_min", sa.Integer, nullable=False),
        sa.Column("camera", ID),
        sa.Column("source", sa.String(64)),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("clock_synced", sa.Boolean, nullable=False),
        sa.Column("received_at", TS, nullable=False),
    )
    op.create_index("ix_events_time", "events", ["occurred_at", "id"])
    op.create_index("ix_events_site_time", "events", ["site", "occurred_at"])
    op.create_table(
        "transfers",
        sa.Column("file_id", ID, primary_key=True),
        sa.Column("site", ID, nullable=False),
        sa.Column("device", ID, nullable=False),
        sa.Column("init", sa.JSON, nullable=False),
        sa.Column("ranges", sa.JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint(
            "state IN ('receiving', 'complete', 'rejected')", name="ck_transfers_state"
        ),
    )
    op.create_table(
        "clips",
        sa.Column("id", ID, primary_key=True),
        sa.Column("site", ID, nullable=False),
        sa.Column("device", ID, nullable=False),
        sa.Column("camera", ID, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("start", TS, nullable=False),
        sa.Column("end", TS, nullable=False),
        sa.Column("event_ids", sa.JSON, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("clock_synced", sa.Boolean, nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("verified", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_clips_time", "clips", ["start", "id"])
    op.create_index("ix_clips_site_time", "clips", ["site", "start"])
    op.create_table(
        "clip_events",
        sa.Column("clip_id", ID, sa.ForeignKey("clips.id"), primary_key=True),
        sa.Column("event_id", ID, primary_key=True),
    )
    op.create_index("ix_clip_events_event_id", "clip_events", ["event_id"])
    op.create_table(
        "audit",
        sa.Column("id", BIGINT, primary_key=True, autoincrement=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", ID, nullable=False),
        sa.Column("action", ID, nullable=False),
        sa.Column("target", sa.String(128)),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
    )


def downgrade() -> None:
    for table in ("audit", "clip_events", "clips", "transfers", "events", "devices", "users"):
        op.drop_table(table)
