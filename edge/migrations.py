"""Schema migrations of the edge store, numbered by ``PRAGMA user_version``.

Append a function to ``MIGRATIONS`` to change the schema; never edit a released one.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils


def _migration_1(db: sqlite_utils.Database) -> None:
    db.table("segments").create(
        {
            "id": int,
            "camera": str,
            "path": str,
            "start": str,
            "end": str,
            "start_ts": float,
            "end_ts": float,
            "duration": float,
            "bytes": int,
            "sha256": str,
            "created_at": str,
        },
        pk="id",
        not_null={"camera", "path", "start", "end", "start_ts", "end_ts", "sha256"},
    )
    db.table("segments").create_index(["path"], unique=True)
    db.table("segments").create_index(["camera", "end_ts"])
    db.table("events").create(
        {
            "id": str,
            "kind": str,
            "occurred_at": str,
            "occurred_ts": float,
            "monotonic_ns": int,
            "camera": str,
            "source": str,
            "data": str,
            "clip_state": str,
            "clip_note": str,
            "created_at": str,
        },
        pk="id",
        not_null={"kind", "occurred_at", "occurred_ts", "monotonic_ns", "clip_state"},
    )
    db.table("events").create_index(["clip_state"])
    db.table("clips").create(
        {
            "file_id": str,
            "event_id": str,
            "camera": str,
            "path": str,
            "start": str,
            "end": str,
            "size": int,
            "sha256": str,
            "gaps": str,
            "created_at": str,
        },
        pk="file_id",
        not_null={"camera", "path", "start", "end", "size", "sha256"},
    )
    db.table("clips").create_index(["event_id", "camera"], unique=True)
    db.execute(
        """CREATE TABLE outbox (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            item_kind TEXT NOT NULL CHECK (item_kind IN ('event', 'file')),
            item_id TEXT NOT NULL,
            priority INTEGER NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered')),
            acked_ranges TEXT NOT NULL DEFAULT '[]',
            attempts INTEGER NOT NULL DEFAULT 0,
            size INTEGER NOT NULL DEFAULT 0,
            next_attempt_ts REAL NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            delivered_at TEXT,
            UNIQUE (item_kind, item_id)
        )"""
    )
    db.execute("CREATE INDEX outbox_pending ON outbox (state, priority, seq)")


def _migration_2(db: sqlite_utils.Database) -> None:
    """Intentionally empty: kept so that stores already at a later version keep their numbering."""


def _migration_3(db: sqlite_utils.Database) -> None:
    """Faults, holds, deleted-segment records and clip deletion (retention and health)."""
    db.execute(
        """CREATE TABLE IF NOT EXISTS faults (
            scope TEXT NOT NULL,
            name TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '{}',
            raised_at TEXT NOT NULL,
            raised_ts REAL NOT NULL,
            event_id TEXT,
            PRIMARY KEY (scope, name)
        )"""
    )
    db.execute(
        """CREATE TABLE IF NOT EXISTS holds (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            camera TEXT,
            start TEXT NOT NULL,
            end TEXT NOT NULL,
            start_ts REAL NOT NULL,
            end_ts REAL NOT NULL,
            reason TEXT NOT NULL,
            until TEXT,
            until_ts REAL,
            created_at TEXT NOT NULL
        )"""
    )
    db.execute(
        """CREATE TABLE IF NOT EXISTS deleted_segments (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            segment_id INTEGER NOT NULL,
            camera TEXT NOT NULL,
            path TEXT NOT NULL,
            start TEXT NOT NULL,
            end TEXT NOT NULL,
            start_ts REAL NOT NULL,
            end_ts REAL NOT NULL,
            bytes INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            reason TEXT NOT NULL,
            unlinked INTEGER NOT NULL DEFAULT 0,
            deleted_at TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS deleted_segments_camera ON deleted_segments (camera)")
    db.execute("ALTER TABLE clips ADD COLUMN deleted_at TEXT")


def _migration_4(db: sqlite_utils.Database) -> None:
    """Recording gaps (``end`` NULL while the outage lasts) and each camera's source state."""
    db.execute(
        """CREATE TABLE gaps (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            camera TEXT NOT NULL,
            start TEXT NOT NULL,
            end TEXT,
            start_ts REAL NOT NULL,
            end_ts REAL,
            reason TEXT NOT NULL,
            created_at TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX gaps_camera ON gaps (camera, start_ts)")
    db.execute(
        """CREATE TABLE camera_state (
            camera TEXT PRIMARY KEY,
            source TEXT NOT NULL,
            clock_drift_s REAL,
            updated_at TEXT NOT NULL
        )"""
    )


def _migration_5(db: sqlite_utils.Database) -> None:
    """Loading sessions, handled commands (idempotent by id) and session clips."""
    db.execute(
        """CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            started_at TEXT NOT NULL,
            started_ts REAL NOT NULL,
            ended_at TEXT,
            ended_ts REAL,
            container_no TEXT,
            vehicle_plate TEXT,
            seal_numbers TEXT NOT NULL DEFAULT '[]',
            start_source TEXT NOT NULL,
            end_source TEXT,
            start_event_id TEXT NOT NULL,
            end_event_id TEXT,
            hold_id INTEGER,
            clip_state TEXT NOT NULL DEFAULT 'none',
            clip_note TEXT
        )"""
    )
    # at most one active session, enforced by SQLite across processes
    db.execute("CREATE UNIQUE INDEX sessions_one_active ON sessions ((1)) WHERE ended_at IS NULL")
    db.execute("CREATE INDEX sessions_clip_state ON sessions (clip_state)")
    db.execute(
        """CREATE TABLE commands (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            received_at TEXT NOT NULL,
            ok INTEGER NOT NULL,
            detail TEXT NOT NULL,
            data TEXT NOT NULL DEFAULT '{}'
        )"""
    )
    db.execute("ALTER TABLE clips ADD COLUMN session_id TEXT")
    db.execute("ALTER TABLE clips ADD COLUMN piece INTEGER")
    db.execute("CREATE UNIQUE INDEX clips_session_piece ON clips (session_id, camera, piece)")


def _migration_6(db: sqlite_utils.Database) -> None:
    """Signed clip manifests, one hash chain per device (``wire.manifest``)."""
    db.execute(
        """CREATE TABLE manifests (
            idx INTEGER PRIMARY KEY,
            file_id TEXT NOT NULL UNIQUE,
            body TEXT NOT NULL,
            signature TEXT NOT NULL,
            hash TEXT NOT NULL
        )"""
    )


def _migration_upload_windows(db: sqlite_utils.Database) -> None:
    """The kind of each clip file (``clip`` or ``window``) and on-demand upload windows."""
    db.execute("ALTER TABLE clips ADD COLUMN kind TEXT NOT NULL DEFAULT 'clip'")
    db.execute(
        """CREATE TABLE upload_windows (
            command_id TEXT PRIMARY KEY,
            file_id TEXT NOT NULL UNIQUE,
            camera TEXT NOT NULL,
            start TEXT NOT NULL,
            end TEXT NOT NULL,
            reason TEXT,
            hold_id INTEGER,
            state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'cut', 'failed')),
            note TEXT,
            created_at TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX upload_windows_state ON upload_windows (state)")


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    _migration_1,
    _migration_2,
    _migration_3,
    _migration_4,
    _migration_5,
    _migration_6,
    _migration_upload_windows,
]
SCHEMA_VERSION = len(MIGRATIONS)
