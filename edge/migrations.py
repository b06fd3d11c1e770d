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


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_migration_1]
SCHEMA_VERSION = len(MIGRATIONS)
