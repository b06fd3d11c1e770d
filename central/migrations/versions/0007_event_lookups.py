"""Inspector lookups: an indexed ``events.container_no`` (copied from the loading events'
data; existing rows backfilled) and an index for a site's events of one kind over time.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("container_no", sa.String(11)))
    events = sa.table(
        "events", sa.column("id", sa.String), sa.column("kind", sa.String),
        sa.column("data", sa.JSON), sa.column("container_no", sa.String),
    )  # fmt: skip
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(events.c.id, events.c.data).where(
            events.c.kind.in_(["loading_start", "loading_end"])
        )
    ).all()
    for event_id, data in rows:
        data = json.loads(data) if isinstance(data, str) else data
        number = (data or {}).get("container_no")
        if isinstance(number, str) and number:
            bind.execute(
                events.update()
                .where(events.c.id == event_id)
                .values(container_no=number.strip().upper()[:11])
            )
    op.create_index("ix_events_container_no", "events", ["container_no"])
    op.create_index("ix_events_site_kind_time", "events", ["site", "kind", "occurred_at"])


def downgrade() -> None:
    op.drop_index("ix_events_site_kind_time", table_name="events")
    op.drop_index("ix_events_container_no", table_name="events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("container_no")
