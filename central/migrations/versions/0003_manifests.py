"""Trusted device keys and the verified links of each device's clip-manifest chain.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

TS = sa.DateTime(timezone=True)
ID = sa.String(64)
BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "device_keys",
        sa.Column("id", BIGINT, primary_key=True, autoincrement=True),
        sa.Column("site", ID, nullable=False),
        sa.Column("device", ID, nullable=False),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column("trusted_at", TS, nullable=False),
        sa.Column("trusted_by", ID, nullable=False),
        sa.Column("revoked_at", TS),
    )
    op.create_index("ix_device_keys_device", "device_keys", ["site", "device", "revoked_at"])
    op.create_table(
        "manifests",
        sa.Column("site", ID, primary_key=True),
        sa.Column("device", ID, primary_key=True),
        sa.Column("idx", sa.BigInteger, primary_key=True),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("prev", sa.String(64), nullable=False),
        sa.Column("file_id", ID, nullable=False, unique=True),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.Column("received_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("manifests")
    op.drop_index("ix_device_keys_device", table_name="device_keys")
    op.drop_table("device_keys")
