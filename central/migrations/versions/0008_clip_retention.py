"""Clip retention (regulation Art. 18–19): a retention class, ``retain_until`` and a legal
hold per clip, an index for the retention sweep and one to find a blob's clips.

Existing clips become ``anomaly`` when they back an anomaly or fault event central has, else
``standard``. ``retain_until`` stays null here: the first ``reeferwatch-central retention
sweep`` sets it from each clip's arrival and the configured periods (``central.retention``);
until then nothing is deleted.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

TS = sa.DateTime(timezone=True)
# the kinds of central.retention.KEEP_KINDS when this revision was written
KEEP_KINDS = ("camera_fault", "device_fault", "fault_cleared", "metal_detector_reject",
              "seal_broken")  # fmt: skip


def upgrade() -> None:
    # ALTER TABLE in place on SQLite too: a copied table would trip clip_events' foreign key
    with op.batch_alter_table("clips", recreate="never") as batch:
        batch.add_column(
            sa.Column("retention_class", sa.String(16), nullable=False, server_default="standard")
        )
        batch.add_column(sa.Column("retain_until", TS))
        batch.add_column(sa.Column("hold", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("hold_reason", sa.String(500)))
        batch.add_column(sa.Column("held_by", sa.String(64)))
        batch.add_column(sa.Column("held_at", TS))
    clips = sa.table("clips", sa.column("id", sa.String), sa.column("retention_class", sa.String))
    clip_events = sa.table(
        "clip_events", sa.column("clip_id", sa.String), sa.column("event_id", sa.String)
    )
    events = sa.table("events", sa.column("id", sa.String), sa.column("kind", sa.String))
    backed = (
        sa.select(clip_events.c.clip_id)
        .join(events, events.c.id == clip_events.c.event_id)
        .where(events.c.kind.in_(KEEP_KINDS))
    )
    op.get_bind().execute(
        clips.update().where(clips.c.id.in_(backed)).values(retention_class="anomaly")
    )
    op.create_index("ix_clips_expiry", "clips", ["hold", "retain_until"])
    op.create_index("ix_clips_sha256", "clips", ["sha256"])


def downgrade() -> None:
    op.drop_index("ix_clips_sha256", table_name="clips")
    op.drop_index("ix_clips_expiry", table_name="clips")
    with op.batch_alter_table("clips", recreate="never") as batch:
        for column in ("held_at", "held_by", "hold_reason", "hold", "retain_until",
                       "retention_class"):  # fmt: skip
            batch.drop_column(column)
