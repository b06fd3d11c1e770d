"""The supervision tree: org units (with the national root), sites, zones, cameras, grants;
every user belongs to an org unit (existing users to the national root).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

TS = sa.DateTime(timezone=True)
ID = sa.String(64)


def upgrade() -> None:
    units = op.create_table(
        "org_units",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("parent_id", sa.Integer, sa.ForeignKey("org_units.id")),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("code", sa.String(32), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("path", sa.String(255), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint("level IN (1, 2, 3)", name="ck_org_units_level"),
    )
    op.create_index("ix_org_units_path", "org_units", ["path"])
    op.bulk_insert(
        units,
        [
            {
                "id": 1,
                "parent_id": None,
                "level": 1,
                "code": "national",
                "name": "国家级监控中心",
                "path": "/1/",
                "created_at": datetime.now(timezone.utc),
            }
        ],
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SELECT setval('org_units_id_seq', 1)")
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("org_unit_id", sa.Integer, nullable=False, server_default="1"))
        batch.create_foreign_key("fk_users_org_unit", "org_units", ["org_unit_id"], ["id"])
    op.create_table(
        "sites",
        sa.Column("id", ID, primary_key=True),
        sa.Column("org_unit_id", sa.Integer, sa.ForeignKey("org_units.id"), nullable=False),
        sa.Column("enterprise_name", sa.String(200), nullable=False),
        sa.Column("registration_no", sa.String(64)),
        sa.Column("address", sa.String(400)),
        sa.Column("location_code", sa.String(64)),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_sites_org_unit_id", "sites", ["org_unit_id"])
    op.create_table(
        "zones",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("site_id", ID, sa.ForeignKey("sites.id"), nullable=False),
        sa.Column("code", ID, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.UniqueConstraint("site_id", "code", name="uq_zones_site_code"),
    )
    op.create_table(
        "cameras",
        sa.Column("site_id", ID, sa.ForeignKey("sites.id"), primary_key=True),
        sa.Column("camera_id", ID, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("zone_id", sa.Integer, sa.ForeignKey("zones.id")),
        sa.Column("ptz", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "grants",
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("site_id", ID, primary_key=True),
        sa.Column("camera_id", ID, primary_key=True),
        sa.Column("granted_by", ID, nullable=False),
        sa.Column("granted_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("grants")
    op.drop_table("cameras")
    op.drop_table("zones")
    op.drop_index("ix_sites_org_unit_id", table_name="sites")
    op.drop_table("sites")
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("fk_users_org_unit", type_="foreignkey")
        batch.drop_column("org_unit_id")
    op.drop_index("ix_org_units_path", table_name="org_units")
    op.drop_table("org_units")
