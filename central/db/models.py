"""Typed declarative models of the central tables (Alembic migrations 0001…)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from central.db.types import UTCDateTime, utcnow


class Base(DeclarativeBase):
    """Declarative base of every central table."""


ROOT_ORG_ID = 1  # the national unit (level 1), made by migration 0004


class OrgUnit(Base):
    """A unit of the three-level supervision tree (regulation Art. 4): 1 national,
    2 provincial bureau, 3 branch bureau. ``path`` is ``/1/…/id/`` for subtree queries."""

    __tablename__ = "org_units"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"))
    level: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    path: Mapped[str] = mapped_column(String(255), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))  # admin | monitor
    disabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), default=ROOT_ORG_ID)


class Site(Base):
    """A packing site under a level-3 unit; ``id`` is the site id of the wire topics."""

    __tablename__ = "sites"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    enterprise_name: Mapped[str] = mapped_column(String(200))
    registration_no: Mapped[str | None] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(400))
    location_code: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Zone(Base):
    """A monitored area of a site (loading dock, cold store …; Art. 5 monitoring areas)."""

    __tablename__ = "zones"
    __table_args__ = (UniqueConstraint("site_id", "code", name="uq_zones_site_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))


class Camera(Base):
    """A camera of a site; ``camera_id`` is the camera id of the wire messages."""

    __tablename__ = "cameras"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), primary_key=True)
    camera_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    zone_id: Mapped[int | None] = mapped_column(ForeignKey("zones.id"))
    ptz: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Grant(Base):
    """A camera a monitor may watch and play back (Art. 9); set by an admin (Art. 10)."""

    __tablename__ = "grants"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    camera_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    granted_by: Mapped[str] = mapped_column(String(64))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Device(Base):
    __tablename__ = "devices"

    site_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    clock_synced: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(16), default="offline")  # online | offline
    version: Mapped[str | None] = mapped_column(String(64))
    # seqs received as merged half-open ranges; gaps between them as [from, to, first_seen]
    seq_received: Mapped[list[list[int]] | None] = mapped_column(JSON)
    seq_gaps: Mapped[list[list[Any]] | None] = mapped_column(JSON)


class Alarm(Base):
    """An alarm raised by ingest (``seq_gap``: detail {from, to}, inclusive); open while
    ``cleared_at`` is null."""

    __tablename__ = "alarms"
    __table_args__ = (Index("ix_alarms_device", "site", "device", "cleared_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    site: Mapped[str] = mapped_column(String(64))
    device: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime())
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DeviceKey(Base):
    """The Ed25519 public key central trusts for a device's clip manifests (one at a time;
    a replaced key keeps its row with ``revoked_at`` set)."""

    __tablename__ = "device_keys"
    __table_args__ = (Index("ix_device_keys_device", "site", "device", "revoked_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    site: Mapped[str] = mapped_column(String(64))
    device: Mapped[str] = mapped_column(String(64))
    public_key: Mapped[str] = mapped_column(String(64))  # base64 of 32 raw bytes
    trusted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    trusted_by: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Manifest(Base):
    """One verified link of a device's manifest chain (``wire.manifest``)."""

    __tablename__ = "manifests"

    site: Mapped[str] = mapped_column(String(64), primary_key=True)
    device: Mapped[str] = mapped_column(String(64), primary_key=True)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hash: Mapped[str] = mapped_column(String(64))
    prev: Mapped[str] = mapped_column(String(64))
    file_id: Mapped[str] = mapped_column(String(64), unique=True)
    body: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(String(128))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# ``central.retention.KEEP_KINDS`` (a test keeps them equal) as literal SQL: SQLite uses a
# partial index only for a query repeating its WHERE term, as the retention sweep does.
KEEP_KINDS_SQL = (
    "kind IN ('camera_fault', 'device_fault', 'fault_cleared', 'metal_detector_reject', "
    "'seal_broken')"
)
_ONLY_KEEP_KINDS: dict[str, Any] = {
    f"{db}_where": sa.text(KEEP_KINDS_SQL) for db in ("postgresql", "sqlite")
}


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_time", "occurred_at", "id"),
        Index("ix_events_keep_kinds", "kind", "id", **_ONLY_KEEP_KINDS),
        Index("ix_events_site_time", "site", "occurred_at"),
        Index("ix_events_site_kind_time", "site", "kind", "occurred_at"),
        Index("ix_events_container_no", "container_no"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # edge ULID
    site: Mapped[str] = mapped_column(String(64))
    device: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    occurred_offset_min: Mapped[int] = mapped_column(Integer)
    camera: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    clock_synced: Mapped[bool] = mapped_column()
    container_no: Mapped[str | None] = mapped_column(String(11))  # from data, for lookups
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Transfer(Base):
    __tablename__ = "transfers"

    file_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site: Mapped[str] = mapped_column(String(64))
    device: Mapped[str] = mapped_column(String(64))
    init: Mapped[dict[str, Any]] = mapped_column(JSON)
    ranges: Mapped[list[list[int]]] = mapped_column(JSON, default=list)
    state: Mapped[str] = mapped_column(String(16))  # receiving | complete | rejected
    error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Clip(Base):
    __tablename__ = "clips"
    __table_args__ = (
        Index("ix_clips_time", "start", "id"),
        Index("ix_clips_site_time", "site", "start"),
        Index("ix_clips_expiry", "hold", "retain_until"),  # the retention sweep
        Index("ix_clips_sha256", "sha256"),  # is a blob still referenced?
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # = file_id
    site: Mapped[str] = mapped_column(String(64))
    device: Mapped[str] = mapped_column(String(64))
    camera: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    start: Mapped[datetime] = mapped_column(UTCDateTime())
    end: Mapped[datetime] = mapped_column(UTCDateTime())
    event_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    seq: Mapped[int] = mapped_column(BigInteger)
    clock_synced: Mapped[bool] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    verified: Mapped[bool] = mapped_column(default=False)
    # retention (central.retention): class, kept until (null: for good), legal hold
    retention_class: Mapped[str] = mapped_column(String(16), default="standard")
    retain_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    hold: Mapped[bool] = mapped_column(default=False)
    hold_reason: Mapped[str | None] = mapped_column(String(500))
    held_by: Mapped[str | None] = mapped_column(String(64))
    held_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ClipEvent(Base):
    """Which events a clip backs: ``clips.event_ids`` as rows, so ``?event=`` is an index hit."""

    __tablename__ = "clip_events"

    clip_id: Mapped[str] = mapped_column(ForeignKey("clips.id"), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class Audit(Base):
    __tablename__ = "audit"
    __table_args__ = (Index("ix_audit_at", "at"), Index("ix_audit_actor_at", "actor", "at"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(128))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class Terminal(Base):
    """A registered monitoring terminal (regulation Art. 7: inspection bodies use dedicated
    computers). Its secret is shown once and stored only as a SHA-256."""

    __tablename__ = "terminals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    org_note: Mapped[str | None] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class UserTerminal(Base):
    """A user bound to a terminal: a user with any binding signs in only from one of them."""

    __tablename__ = "user_terminals"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    terminal_id: Mapped[int] = mapped_column(ForeignKey("terminals.id"), primary_key=True)
    bound_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    bound_by: Mapped[str] = mapped_column(String(64))


class AuthSession(Base):
    """A sign-in: its access tokens carry its id; its refresh token, stored only as a
    SHA-256, rotates on every use. Live while not revoked and before ``expires_at``."""

    __tablename__ = "sessions"
    __table_args__ = (Index("ix_sessions_user", "user_id", "expires_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_reason: Mapped[str | None] = mapped_column(String(32))
    refresh_hash: Mapped[str] = mapped_column(String(64))
    refresh_generation: Mapped[int] = mapped_column(Integer, default=0)
    client: Mapped[str] = mapped_column(String(64))
    terminal_id: Mapped[int | None] = mapped_column(ForeignKey("terminals.id"), index=True)


class LoginAttempt(Base):
    """One request to ``/auth/token`` (outcome ok | fail | locked | limited): what the
    lockout and the per-address rate limit count, shared by every API process."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_username", "username", "at"),
        Index("ix_login_attempts_client", "client", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    username: Mapped[str] = mapped_column(String(64))
    client: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))


class LoginLock(Base):
    """The latest lockout of a user name (existing or not); failures before ``locked_at`` or
    ``cleared_at`` no longer count."""

    __tablename__ = "login_locks"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    locked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime] = mapped_column(UTCDateTime())
    failures: Mapped[int] = mapped_column(Integer)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cleared_by: Mapped[str | None] = mapped_column(String(64))


class LoadingSession(Base):
    """One container loaded at a site (regulation Annex 1), built from the edge's
    ``loading_start`` / ``loading_end`` events (``central.loadingsessions``); its clips are
    those naming either event."""

    __tablename__ = "loading_sessions"
    __table_args__ = (
        Index("ix_loading_sessions_site_time", "site", "started_at"),
        Index("ix_loading_sessions_time", "started_at", "id"),
        Index("ix_loading_sessions_container", "container_no"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the edge's session id
    site: Mapped[str] = mapped_column(String(64))
    device: Mapped[str] = mapped_column(String(64))
    container_no: Mapped[str | None] = mapped_column(String(11))
    vehicle_plate: Mapped[str | None] = mapped_column(String(32))
    seal_numbers: Mapped[str | None] = mapped_column(String(600))  # comma-separated
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_offset_min: Mapped[int] = mapped_column(Integer, default=0)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    start_event_id: Mapped[str | None] = mapped_column(String(64))
    end_event_id: Mapped[str | None] = mapped_column(String(64))
    start_source: Mapped[str | None] = mapped_column(String(64))
    end_source: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Command(Base):
    """A command to an edge on ``down/cmd`` (DESIGN §5), issued by the API and published by
    ingest until the edge answers or it expires (``central.commands``)."""

    __tablename__ = "commands"
    __table_args__ = (
        Index("ix_commands_state", "state", "expires_at"),
        Index("ix_commands_site_time", "site", "issued_at"),
        Index("ix_commands_time", "issued_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site: Mapped[str] = mapped_column(String(64))
    device: Mapped[str] = mapped_column(String(64))
    camera: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    args: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    issued_by: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    state: Mapped[str] = mapped_column(String(16))  # queued | sent | done | failed | expired
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # the edge's sent_at
    ok: Mapped[bool | None] = mapped_column()
    detail: Mapped[str | None] = mapped_column(String(2000))
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    file_id: Mapped[str | None] = mapped_column(String(64), index=True)  # upload_window's clip
