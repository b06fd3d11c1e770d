"""The edge store: SQLite (WAL, ``synchronous=FULL``) through sqlite-utils.

Tables ``segments``, ``events``, ``clips`` and ``outbox``; the outbox ``seq`` is the
per-device sequence number of the wire contract, assigned when an item enters it.
Schema changes are numbered migrations tracked by ``PRAGMA user_version``. One ``Store``
may be shared by the threads of a process (a lock serialises them); several processes may
open the same file at once (WAL plus a busy timeout, writes in ``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from edge.manifests import ClipFacts, ManifestSigner, SignedManifest, manifest_for
from edge.migrations import MIGRATIONS, SCHEMA_VERSION
from edge.rows import (
    Clip,
    Event,
    OutboxItem,
    Range,
    Row,
    Segment,
    clip_from_row,
    event_from_row,
    outbox_from_row,
    segment_from_row,
)
from edge.timeutil import iso, now, parse_iso
from wire.closing import Closeable
from wire.errors import StoreError

__all__ = ["SCHEMA_VERSION", "Clip", "Event", "OutboxItem", "Segment", "Store"]


class Store(Closeable):
    """The SQLite store of one edge device. Idempotent ``close()``; a context manager."""

    def __init__(
        self,
        path: str | Path,
        busy_timeout_s: float = 30.0,
        signer: ManifestSigner | None = None,
    ) -> None:
        self.path = Path(path)
        self.signer = signer  # set in the recording process: clips it queues are signed
        self._lock = threading.RLock()
        self._closed = False
        self._listeners: list[Callable[[], None]] = []
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                str(self.path),
                timeout=busy_timeout_s,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
            self.db = sqlite_utils.Database(conn)
            self._migrate()
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"{self.path}: cannot open the edge store ({exc})") from exc

    # -- lifecycle -------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self.db.close()

    @property
    def schema_version(self) -> int:
        return int(self._query("PRAGMA user_version")[0][0])

    def _migrate(self) -> None:
        with self.transaction():
            version = int(self.db.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: schema version {version} is newer than this software "
                    f"({SCHEMA_VERSION})"
                )
            for number in range(version, SCHEMA_VERSION):
                MIGRATIONS[number](self.db)
                self.db.execute(f"PRAGMA user_version={number + 1}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite_utils.Database]:
        """A write transaction (``BEGIN IMMEDIATE``) holding the in-process lock."""
        with self._lock:
            if self._closed:
                raise StoreError(f"{self.path}: store is closed")
            conn = self.db.conn
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: cannot begin a transaction ({exc})") from exc
            try:
                yield self.db
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise StoreError(f"{self.path}: commit failed ({exc})") from exc

    def _query(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[Any]:
        with self._lock:
            if self._closed:
                raise StoreError(f"{self.path}: store is closed")
            try:
                cursor = self.db.execute(sql, params)
                columns = [d[0] for d in cursor.description or ()]
                return [Row(columns, row) for row in cursor.fetchall()]
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: query failed ({exc})") from exc

    def query(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[Any]:
        """Read rows (by name or position); for modules that own tables (faults, holds)."""
        return self._query(sql, params)

    # -- segments --------------------------------------------------------------------
    def add_segment(
        self,
        camera: str,
        path: Path,
        start: datetime,
        end: datetime,
        size: int,
        sha256: str,
    ) -> int:
        row = {
            "camera": camera,
            "path": str(path),
            "start": iso(start),
            "end": iso(end),
            "start_ts": start.timestamp(),
            "end_ts": end.timestamp(),
            "duration": (end - start).total_seconds(),
            "bytes": size,
            "sha256": sha256,
            "created_at": iso(now()),
        }
        with self.transaction() as db:
            table = db.table("segments")
            table.insert(row, replace=True)
            return int(table.last_pk)  # type: ignore[arg-type]

    def segments_overlapping(self, camera: str, start: datetime, end: datetime) -> list[Segment]:
        rows = self._query(
            "SELECT * FROM segments WHERE camera = ? AND end_ts > ? AND start_ts < ? "
            "ORDER BY start_ts",
            (camera, start.timestamp(), end.timestamp()),
        )
        return [segment_from_row(r) for r in rows]

    def last_segment(self, camera: str) -> Segment | None:
        rows = self._query(
            "SELECT * FROM segments WHERE camera = ? ORDER BY end_ts DESC LIMIT 1", (camera,)
        )
        return segment_from_row(rows[0]) if rows else None

    def segments(self, camera: str | None = None) -> list[Segment]:
        if camera is None:
            rows = self._query("SELECT * FROM segments ORDER BY start_ts")
        else:
            rows = self._query(
                "SELECT * FROM segments WHERE camera = ? ORDER BY start_ts", (camera,)
            )
        return [segment_from_row(r) for r in rows]

    # -- events ----------------------------------------------------------------------
    def add_event(
        self,
        event_id: str,
        kind: str,
        occurred_at: datetime,
        monotonic_ns: int,
        camera: str | None,
        source: str | None,
        data: dict[str, Any],
        clip_state: str,
        priority: int,
        also: Callable[[sqlite_utils.Database], None] | None = None,
    ) -> int:
        """Commit the event and its outbox entry in one transaction; return the outbox seq.

        ``also`` runs inside the same transaction first (e.g. a session row); if it raises,
        nothing is committed."""
        with self.transaction() as db:
            if also is not None:
                also(db)
            db.table("events").insert(
                {
                    "id": event_id,
                    "kind": kind,
                    "occurred_at": iso(occurred_at),
                    "occurred_ts": occurred_at.timestamp(),
                    "monotonic_ns": monotonic_ns,
                    "camera": camera,
                    "source": source,
                    "data": json.dumps(data, sort_keys=True),
                    "clip_state": clip_state,
                    "clip_note": None,
                    "created_at": iso(now()),
                }
            )
            seq = self._enqueue(db, "event", event_id, priority, 0)
        self._enqueued()
        return seq

    def event(self, event_id: str) -> Event | None:
        rows = self._query("SELECT * FROM events WHERE id = ?", (event_id,))
        return event_from_row(rows[0]) if rows else None

    def events_with_clip_state(self, state: str, limit: int = 100) -> list[Event]:
        rows = self._query(
            "SELECT * FROM events WHERE clip_state = ? ORDER BY occurred_ts LIMIT ?",
            (state, limit),
        )
        return [event_from_row(r) for r in rows]

    def set_clip_state(self, event_id: str, state: str, note: str | None = None) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE events SET clip_state = ?, clip_note = ? WHERE id = ?",
                (state, note, event_id),
            )

    # -- clips -----------------------------------------------------------------------
    def add_clip(
        self,
        file_id: str,
        event_id: str | None,
        camera: str,
        path: Path,
        start: datetime,
        end: datetime,
        size: int,
        sha256: str,
        gaps: list[tuple[datetime, datetime]],
        priority: int,
        session_id: str | None = None,
        piece: int | None = None,
        kind: str = "clip",
    ) -> int:
        """Record a clip file, sign its manifest (when the store has a signer) and queue it
        in the outbox, all in one transaction; return its seq."""
        with self.transaction() as db:
            db.table("clips").insert(
                {
                    "file_id": file_id,
                    "session_id": session_id,
                    "piece": piece,
                    "kind": kind,
                    "event_id": event_id,
                    "camera": camera,
                    "path": str(path),
                    "start": iso(start),
                    "end": iso(end),
                    "size": size,
                    "sha256": sha256,
                    "gaps": json.dumps([[iso(a), iso(b)] for a, b in gaps]),
                    "created_at": iso(now()),
                }
            )
            if self.signer is not None:
                facts = ClipFacts(
                    file_id, kind, path.name, camera, start, end, size, sha256,
                    [event_id] if event_id else self._session_event_ids(db, session_id),
                )  # fmt: skip
                self.signer.append(db, facts)
            seq = self._enqueue(db, "file", file_id, priority, size)
        self._enqueued()
        return seq

    @staticmethod
    def _session_event_ids(db: sqlite_utils.Database, session_id: str | None) -> list[str]:
        if session_id is None:
            return []
        row = db.execute(
            "SELECT start_event_id, end_event_id FROM sessions WHERE id = ?", (session_id,)
        ).fetchone()
        return [e for e in row if e] if row else []

    def manifest(self, file_id: str) -> SignedManifest | None:
        """The signed manifest of a clip, or None for a clip queued without a signer."""
        with self._lock:
            return manifest_for(self.db, file_id)

    def clip(self, file_id: str) -> Clip | None:
        rows = self._query("SELECT * FROM clips WHERE file_id = ?", (file_id,))
        return clip_from_row(rows[0]) if rows else None

    def clips_for_event(self, event_id: str) -> list[Clip]:
        rows = self._query("SELECT * FROM clips WHERE event_id = ? ORDER BY camera", (event_id,))
        return [clip_from_row(r) for r in rows]

    # -- outbox ----------------------------------------------------------------------
    def on_enqueue(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` after every commit that adds an outbox item in this process
        (the sync client wakes on it); returns a function that removes the listener."""
        with self._lock:
            self._listeners.append(listener)

        def remove() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return remove

    def _enqueued(self) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    @staticmethod
    def _enqueue(
        db: sqlite_utils.Database, kind: str, item_id: str, priority: int, size: int
    ) -> int:
        cursor = db.execute(
            "INSERT INTO outbox (item_kind, item_id, priority, size, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (kind, item_id, priority, size, iso(now())),
        )
        return int(cursor.lastrowid or 0)

    def outbox_pending(self, limit: int = 100, due_only: bool = True) -> list[OutboxItem]:
        """Pending items by (priority, seq); with ``due_only`` skip those backing off."""
        due = time.time() if due_only else float("inf")
        rows = self._query(
            "SELECT * FROM outbox WHERE state = 'pending' AND next_attempt_ts <= ? "
            "ORDER BY priority, seq LIMIT ?",
            (due, limit),
        )
        return [outbox_from_row(r) for r in rows]

    def outbox_item(self, kind: str, item_id: str) -> OutboxItem | None:
        rows = self._query(
            "SELECT * FROM outbox WHERE item_kind = ? AND item_id = ?", (kind, item_id)
        )
        return outbox_from_row(rows[0]) if rows else None

    def outbox_items(self) -> list[OutboxItem]:
        return [outbox_from_row(r) for r in self._query("SELECT * FROM outbox ORDER BY seq")]

    def set_acked_ranges(self, seq: int, ranges: list[Range]) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE outbox SET acked_ranges = ? WHERE seq = ? AND state = 'pending'",
                (json.dumps([list(r) for r in ranges]), seq),
            )

    def note_attempt(self, seq: int, next_attempt_ts: float = 0.0) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_ts = ? WHERE seq = ?",
                (next_attempt_ts, seq),
            )

    def mark_delivered(self, kind: str, item_id: str) -> bool:
        """Mark a pending item delivered; return False if unknown or already delivered."""
        with self.transaction() as db:
            cursor = db.execute(
                "UPDATE outbox SET state = 'delivered', delivered_at = ? "
                "WHERE item_kind = ? AND item_id = ? AND state = 'pending'",
                (iso(now()), kind, item_id),
            )
            return cursor.rowcount > 0

    def backlog(self) -> tuple[int, int]:
        """(count, bytes) of pending outbox items."""
        row = self._query(
            "SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS b FROM outbox WHERE state = 'pending'"
        )[0]
        return int(row["n"]), int(row["b"])

    def last_delivery(self) -> datetime | None:
        row = self._query("SELECT MAX(delivered_at) AS t FROM outbox")[0]
        return parse_iso(row["t"]) if row["t"] else None
