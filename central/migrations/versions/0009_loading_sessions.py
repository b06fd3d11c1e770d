"""Loading sessions at central: one row per container loaded, from the loading events
(existing ones backfilled, in the order they occurred).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from central.db.types import UTCDateTime, utcnow

revision = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None

TEXT_COLUMNS = ("id", "site", "device", "container_no", "vehicle_plate", "seal_numbers",
                "start_event_id", "end_event_id", "start_source", "end_source")  # fmt: skip


def _aware(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.utcoffset() is not None else None


def _offset(value: datetime) -> int:
    offset = value.utcoffset()
    return int(offset.total_seconds() // 60) if offset is not None else 0


def upgrade() -> None:
    op.create_table(
        "loading_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("device", sa.String(64), nullable=False),
        sa.Column("container_no", sa.String(11)),
        sa.Column("vehicle_plate", sa.String(32)),
        sa.Column("seal_numbers", sa.String(600)),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_offset_min", sa.Integer, nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("start_event_id", sa.String(64)),
        sa.Column("end_event_id", sa.String(64)),
        sa.Column("start_source", sa.String(64)),
        sa.Column("end_source", sa.String(64)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_loading_sessions_site_time", "loading_sessions", ["site", "started_at"])
    op.create_index("ix_loading_sessions_time", "loading_sessions", ["started_at", "id"])
    op.create_index("ix_loading_sessions_container", "loading_sessions", ["container_no"])
    _backfill()


def _backfill() -> None:
    """Rows for the sessions whose events central already holds."""
    sessions_table = sa.table(
        "loading_sessions", *(sa.column(name, sa.String) for name in TEXT_COLUMNS),
        sa.column("started_offset_min", sa.Integer),
        *(sa.column(name, UTCDateTime()) for name in ("started_at", "ended_at", "updated_at")),
    )  # fmt: skip
    events = sa.table(
        "events", sa.column("id", sa.String), sa.column("site", sa.String),
        sa.column("device", sa.String), sa.column("kind", sa.String),
        sa.column("occurred_at", sa.DateTime(timezone=True)),
        sa.column("occurred_offset_min", sa.Integer), sa.column("source", sa.String),
        sa.column("data", sa.JSON), sa.column("container_no", sa.String),
    )  # fmt: skip
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(events)
        .where(events.c.kind.in_(["loading_start", "loading_end"]))
        .order_by(events.c.occurred_at)
    ).all()
    sessions: dict[str, dict[str, Any]] = {}
    for row in rows:
        data = json.loads(row.data) if isinstance(row.data, str) else (row.data or {})
        session_id = data.get("session_id")
        if not isinstance(session_id, str) or not session_id:
            continue
        entry = sessions.setdefault(
            session_id, {"id": session_id[:64], "site": row.site, "device": row.device}
        )
        started = _aware(data.get("started_at"))
        if started is not None:
            entry["started_at"], entry["started_offset_min"] = started, _offset(started)
        if row.kind == "loading_end":
            entry["end_event_id"], entry["end_source"] = row.id, row.source
            entry["ended_at"] = _aware(data.get("ended_at"))
        else:
            entry["start_event_id"], entry["start_source"] = row.id, row.source
        for key, limit in (("vehicle_plate", 32), ("seal_numbers", 600)):
            if isinstance(data.get(key), str) and data[key].strip():
                entry[key] = data[key].strip()[:limit]
        if row.container_no:
            entry["container_no"] = row.container_no
    now = utcnow()
    values = [
        {"started_offset_min": 0, **entry, "updated_at": now}
        for entry in sessions.values()
        if "started_at" in entry
    ]
    if values:
        for entry in values:
            bind.execute(sa.insert(sessions_table).values(**entry))


def downgrade() -> None:
    op.drop_table("loading_sessions")
