"""Loading-session clips: every camera from session start to end, in pieces.

Once a session has ended and closed segments reach its end on every camera (or the same
deadline as event clips passes), ``[start, end]`` is split into pieces of at most
``[sessions] max_clip_seconds`` and each piece of each camera is cut (stream copy), recorded
with ``session_id``/``piece`` and queued at file priority ``20 + [sessions] priority`` — after
event clips. Pieces already cut are skipped after a restart. Then the session's retention
hold is released (its undelivered clips stay pinned as clips).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from edge.config import EdgeConfig
from edge.events import PRIORITY_FILE_OFFSET
from edge.retention import remove_hold
from edge.sessions import LoadingSessions, Session
from edge.store import Store
from edge.timeutil import now

log = logging.getLogger(__name__)

GRACE_S = 5.0
CutFn = Callable[..., "str | None"]


def split_window(
    start: datetime, end: datetime, max_seconds: float
) -> list[tuple[datetime, datetime]]:
    """``[start, end]`` as consecutive pieces of at most ``max_seconds`` (at least one)."""
    pieces: list[tuple[datetime, datetime]] = []
    step = timedelta(seconds=max_seconds)
    cursor = start
    while True:
        stop = min(cursor + step, end)
        pieces.append((cursor, stop))
        if stop >= end:
            return pieces
        cursor = stop


class SessionClipper:
    """Cuts the clips of ended sessions through the clip worker's ``cut``."""

    def __init__(self, config: EdgeConfig, store: Store, cut: CutFn) -> None:
        self.config = config
        self.store = store
        self.cut = cut
        self.sessions = LoadingSessions(config, store)

    def process_pending(self, stop: threading.Event | None = None) -> int:
        done = 0
        for session in self.sessions.ended_with_clip_state("pending"):
            if stop is not None and stop.is_set():
                break
            if self._process(session):
                done += 1
        return done

    def _ready(self, end: datetime) -> bool:
        for cam in self.config.cameras:
            last = self.store.last_segment(cam.id)
            if last is None or last.end < end:
                return False
        return True

    def _process(self, session: Session) -> bool:
        assert session.ended_at is not None
        start, end = session.started_at, session.ended_at
        if end <= start:
            end = start + timedelta(seconds=1)
        deadline = end + timedelta(seconds=2 * self.config.recording.segment_seconds + GRACE_S)
        if not self._ready(end) and now() < deadline:
            return False
        rows = self.store.query(
            "SELECT camera, piece FROM clips WHERE session_id = ?", (session.id,)
        )
        have = {(r["camera"], r["piece"]) for r in rows}
        pieces = split_window(start, end, self.config.sessions.max_clip_seconds)
        priority = PRIORITY_FILE_OFFSET + self.config.sessions.priority
        meta = {"session_id": session.id, "event_kind": "loading_session"}
        if session.container_no:
            meta["container_no"] = session.container_no
        made, notes = len(have), []
        for cam in self.config.cameras:
            for number, (a, b) in enumerate(pieces):
                if (cam.id, number) in have:
                    continue
                tag = f"S{session.id}-{number:03d}"
                note = self.cut(cam.id, a, b, tag, meta, priority,
                                session_id=session.id, piece=number)  # fmt: skip
                if note is None:
                    made += 1
                else:
                    notes.append(f"{cam.id} piece {number}: {note}")
        state = "cut" if made else "failed"
        self.sessions.set_clip_state(session.id, state, "; ".join(notes) or None)
        if session.hold_id is not None:
            remove_hold(self.store, session.hold_id)
        log.info("loading session %s: %d clip(s) in %d piece(s) per camera, %s",
                 session.id, made, len(pieces), state)  # fmt: skip
        return True
