"""Commands to edges: queued by the API, published by ingest, answered by the edge.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "commands",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("device", sa.String(64), nullable=False),
        sa.Column("camera", sa.String(64)),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("args", sa.JSON, nullable=False),
        sa.Column("issued_by", sa.String(64), nullable=False),
        sa.Column("issued_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("sent_at", TS),
        sa.Column("answered_at", TS),
        sa.Column("ok", sa.Boolean),
        sa.Column("detail", sa.String(2000)),
        sa.Column("data", sa.JSON),
        sa.Column("file_id", sa.String(64)),
    )
    op.create_index("ix_commands_state", "commands", ["state", "expires_at"])
    op.create_index("ix_commands_site_time", "commands", ["site", "issued_at"])
    op.create_index("ix_commands_time", "commands", ["issued_at", "id"])
    op.create_index("ix_commands_file_id", "commands", ["file_id"])


def downgrade() -> None:
    op.drop_table("commands")
