"""Loading sessions: one container loaded at a time, started/ended by a button or central.

A session is a row of the ``sessions`` table committed in the same transaction as its
``loading_start`` / ``loading_end`` event (SQLite first; a unique partial index allows at most
one active session, across processes). It carries the container number (ISO 6346 checked),
the vehicle plate and the seal numbers when entered. While it is active a retention hold pins
its video; after the end, ``edge.sessionclips`` cuts every camera's start..end into pieces.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils

from edge.config import EdgeConfig
from edge.events import record_event
from edge.iso6346 import parse_container_no
from edge.retention import add_hold
from edge.store import Store
from edge.timeutil import iso, now, parse_iso
from wire.errors import SessionError, StoreError, WireError
from wire.ids import new_ulid

log = logging.getLogger(__name__)

MAX_FIELD = 32
MAX_SEALS = 16


@dataclass(frozen=True)
class Session:
    id: str
    started_at: datetime
    ended_at: datetime | None
    container_no: str | None
    vehicle_plate: str | None
    seal_numbers: list[str]
    start_source: str
    end_source: str | None
    start_event_id: str
    end_event_id: str | None
    hold_id: int | None
    clip_state: str
    clip_note: str | None

    def event_data(self) -> dict[str, Any]:
        """Scalar event data (wire ``data`` holds scalars only)."""
        data: dict[str, Any] = {
            "session_id": self.id,
            "container_no": self.container_no,
            "vehicle_plate": self.vehicle_plate,
            "seal_numbers": ",".join(self.seal_numbers) or None,
            "started_at": iso(self.started_at),
        }
        if self.ended_at is not None:
            data["ended_at"] = iso(self.ended_at)
            data["duration_s"] = round((self.ended_at - self.started_at).total_seconds(), 3)
        return data


def session_from_row(r: Any) -> Session:
    return Session(
        id=r["id"],
        started_at=parse_iso(r["started_at"]),
        ended_at=parse_iso(r["ended_at"]) if r["ended_at"] else None,
        container_no=r["container_no"],
        vehicle_plate=r["vehicle_plate"],
        seal_numbers=list(json.loads(r["seal_numbers"] or "[]")),
        start_source=r["start_source"],
        end_source=r["end_source"],
        start_event_id=r["start_event_id"],
        end_event_id=r["end_event_id"],
        hold_id=r["hold_id"],
        clip_state=r["clip_state"],
        clip_note=r["clip_note"],
    )


def _text(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    cleaned = " ".join(str(value).split())
    if len(cleaned) > MAX_FIELD:
        raise WireError(f"{name}: at most {MAX_FIELD} characters, got {len(cleaned)}")
    if any(not ch.isprintable() for ch in cleaned):
        raise WireError(f"{name}: {cleaned!r} contains unprintable characters")
    return cleaned or None


def parse_seals(value: str | list[str] | None) -> list[str]:
    """Seal numbers from a list or a comma-separated string; blanks dropped."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    seals = [s for s in (_text("seal_numbers", item) for item in items) if s]
    if len(seals) > MAX_SEALS:
        raise WireError(f"seal_numbers: at most {MAX_SEALS}, got {len(seals)}")
    return seals


class LoadingSessions:
    """Start, stop and query loading sessions; safe to use from several threads/processes."""

    def __init__(self, config: EdgeConfig, store: Store) -> None:
        self.config = config
        self.store = store

    def active(self) -> Session | None:
        rows = self.store.query("SELECT * FROM sessions WHERE ended_at IS NULL LIMIT 1")
        return session_from_row(rows[0]) if rows else None

    def get(self, session_id: str) -> Session | None:
        rows = self.store.query("SELECT * FROM sessions WHERE id = ?", (session_id,))
        return session_from_row(rows[0]) if rows else None

    def start(
        self,
        *,
        container_no: str | None = None,
        vehicle_plate: str | None = None,
        seal_numbers: list[str] | None = None,
        source: str = "button",
    ) -> str:
        """Start a session and return its id; ``SessionError`` if one is already active,
        ``ContainerNumberError`` / ``WireError`` (both ``ValueError``) for bad fields."""
        container = parse_container_no(container_no) if container_no else None
        plate = _text("vehicle_plate", vehicle_plate)
        seals = parse_seals(seal_numbers)
        src = _text("source", source) or "unknown"
        session_id = new_ulid()
        moment = now()
        hold_id = self._hold(moment, session_id)
        session = Session(session_id, moment, None, container, plate, seals, src, None,
                          "", None, hold_id, "none", None)  # fmt: skip

        def insert(db: sqlite_utils.Database, event_id: str) -> None:
            if db.execute("SELECT id FROM sessions WHERE ended_at IS NULL").fetchone():
                raise SessionError("a loading session is already active; end it first")
            db.execute(
                "INSERT INTO sessions (id, started_at, started_ts, container_no, vehicle_plate,"
                " seal_numbers, start_source, start_event_id, hold_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (session_id, iso(moment), moment.timestamp(), container, plate,
                 json.dumps(seals), src, event_id, hold_id),
            )  # fmt: skip

        try:
            record_event(self.store, "loading_start", source=src, data=session.event_data(),
                         occurred_at=moment, also=insert)  # fmt: skip
        except (SessionError, StoreError):
            self._drop_hold(hold_id)
            raise
        log.info("loading session %s started (%s) container %s", session_id, src, container)
        return session_id

    def stop(self, source: str = "button") -> str | None:
        """End the active session; return its id, or None if none was active."""
        current = self.active()
        if current is None:
            return None
        src = _text("source", source) or "unknown"
        moment = now()
        ended = Session(**{**current.__dict__, "ended_at": moment, "end_source": src})

        def update(db: sqlite_utils.Database, event_id: str) -> None:
            cursor = db.execute(
                "UPDATE sessions SET ended_at = ?, ended_ts = ?, end_source = ?,"
                " end_event_id = ?, clip_state = 'pending' WHERE id = ? AND ended_at IS NULL",
                (iso(moment), moment.timestamp(), src, event_id, current.id),
            )
            if cursor.rowcount != 1:
                raise SessionError(f"loading session {current.id} was ended meanwhile")

        try:
            record_event(self.store, "loading_end", source=src, data=ended.event_data(),
                         occurred_at=moment, also=update)  # fmt: skip
        except SessionError:
            return None
        log.info("loading session %s ended (%s)", current.id, src)
        return current.id

    def toggle(self, source: str = "button") -> str:
        """Start a session if none is active, else end it; return "started" or "stopped"."""
        if self.stop(source) is not None:
            return "stopped"
        self.start(source=source)
        return "started"

    def ended_with_clip_state(self, state: str, limit: int = 20) -> list[Session]:
        rows = self.store.query(
            "SELECT * FROM sessions WHERE clip_state = ? AND ended_at IS NOT NULL "
            "ORDER BY started_ts LIMIT ?",
            (state, limit),
        )
        return [session_from_row(r) for r in rows]

    def set_clip_state(self, session_id: str, state: str, note: str | None = None) -> None:
        with self.store.transaction() as db:
            db.execute(
                "UPDATE sessions SET clip_state = ?, clip_note = ? WHERE id = ?",
                (state, note, session_id),
            )

    def _hold(self, moment: datetime, session_id: str) -> int | None:
        """Pin the session's video while it runs (bounded by ``[sessions] max_hours``)."""
        pre = timedelta(seconds=self.config.recording.segment_seconds)
        end = moment + timedelta(hours=self.config.sessions.max_hours)
        try:
            return add_hold(self.store, moment - pre, end, f"loading session {session_id}",
                            until=end)  # fmt: skip
        except (StoreError, sqlite3.Error) as exc:
            log.error("loading session %s: cannot pin its video: %s", session_id, exc)
            return None

    def _drop_hold(self, hold_id: int | None) -> None:
        if hold_id is not None:
            from edge.retention import remove_hold

            remove_hold(self.store, hold_id)


def session_event_ids(store: Store, session_id: str | None) -> list[str]:
    """The loading_start and loading_end event ids of a session (for a clip's FileInit)."""
    if session_id is None:
        return []
    rows = store.query(
        "SELECT start_event_id, end_event_id FROM sessions WHERE id = ?", (session_id,)
    )
    return [e for e in (rows[0][0], rows[0][1]) if e] if rows else []
