"""Sign-in state: terminals and user bindings, revocable sessions with rotating refresh tokens,
login attempts and lockouts.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

TS = sa.DateTime(timezone=True)
ID = sa.String(64)
BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "terminals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", ID, nullable=False, unique=True),
        sa.Column("org_note", sa.String(200)),
        sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", ID, nullable=False),
        sa.Column("revoked_at", TS),
    )
    op.create_table(
        "user_terminals",
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("terminal_id", sa.Integer, sa.ForeignKey("terminals.id"), primary_key=True),
        sa.Column("bound_at", TS, nullable=False),
        sa.Column("bound_by", ID, nullable=False),
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_used_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("revoked_at", TS),
        sa.Column("revoked_reason", sa.String(32)),
        sa.Column("refresh_hash", sa.String(64), nullable=False),
        sa.Column("refresh_generation", sa.Integer, nullable=False, server_default="0"),
        sa.Column("client", ID, nullable=False),
        sa.Column("terminal_id", sa.Integer, sa.ForeignKey("terminals.id")),
    )
    op.create_index("ix_sessions_user", "sessions", ["user_id", "expires_at"])
    op.create_index("ix_sessions_terminal_id", "sessions", ["terminal_id"])
    op.create_table(
        "login_attempts",
        sa.Column("id", BIGINT, primary_key=True, autoincrement=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("username", ID, nullable=False),
        sa.Column("client", ID, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('ok', 'fail', 'locked', 'limited')", name="ck_login_attempts_outcome"
        ),
    )
    op.create_index("ix_login_attempts_at", "login_attempts", ["at"])
    op.create_index("ix_login_attempts_username", "login_attempts", ["username", "at"])
    op.create_index("ix_login_attempts_client", "login_attempts", ["client", "at"])
    op.create_table(
        "login_locks",
        sa.Column("username", ID, primary_key=True),
        sa.Column("locked_at", TS, nullable=False),
        sa.Column("locked_until", TS, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("cleared_at", TS),
        sa.Column("cleared_by", ID),
    )


def downgrade() -> None:
    op.drop_table("login_locks")
    for index in ("ix_login_attempts_client", "ix_login_attempts_username", "ix_login_attempts_at"):
        op.drop_index(index, table_name="login_attempts")
    op.drop_table("login_attempts")
    op.drop_index("ix_sessions_terminal_id", table_name="sessions")
    op.drop_index("ix_sessions_user", table_name="sessions")
    op.drop_table("sessions")
    op.drop_table("user_terminals")
    op.drop_table("terminals")
