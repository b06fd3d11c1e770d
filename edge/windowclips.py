"""On-demand upload windows (``upload_window`` on ``down/cmd``): checked, queued, cut later.

The command is answered at once, from paho's network thread, without cutting anything: the
arguments are checked, at least one indexed segment must overlap the window, and the job (with
the file id its clip will carry) is committed in ``upload_windows`` in the same transaction as
the command id, so a repeated id can never queue a second clip. A retention hold pins the window
until it is cut (it lapses by itself after ``HOLD_S``). The clip worker's thread then cuts the
window once recording has reached its end (or the same deadline as event clips has passed):
stream copy, gaps listed as for every clip, queued as a ``window`` file at ``PRIORITY_WINDOW``
(after every event and loading-session clip). A job still pending after a restart is resumed
with the same file id; a clip already recorded for it is never cut twice.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils
from pydantic import TypeAdapter, ValidationError

from edge.config import EdgeConfig
from edge.events import PRIORITY_WINDOW, record_event
from edge.retention import add_hold, remove_hold
from edge.store import Store
from edge.timeutil import iso, local, now, parse_iso
from wire.errors import NotCoveredError, WireError
from wire.ids import new_ulid
from wire.models import MAX_WINDOW_SECONDS, AwareDatetime, ScalarValue

log = logging.getLogger(__name__)

MAX_WINDOW_S = MAX_WINDOW_SECONDS  # longest window one command may ask for
MAX_REASON_CHARS = 200
WINDOW_ARGS = frozenset({"camera", "start", "end", "reason"})
HOLD_S = 3600.0  # retention hold of a window not yet cut; lapses by itself after this long
GRACE_S = 5.0
CutFn = Callable[..., "str | None"]

_TIME: TypeAdapter[datetime] = TypeAdapter(AwareDatetime)


@dataclass(frozen=True)
class WindowRequest:
    camera: str
    start: datetime
    end: datetime
    reason: str | None = None


@dataclass(frozen=True)
class WindowJob:
    command_id: str
    file_id: str
    camera: str
    start: datetime
    end: datetime
    reason: str | None
    hold_id: int | None


def _time(args: Mapping[str, ScalarValue], key: str) -> datetime:
    value = args.get(key)
    if not isinstance(value, str):
        raise WireError(f"args.{key}: required, ISO 8601 with a UTC offset "
                        "(e.g. 2026-11-27T08:00:00+08:00)")  # fmt: skip
    try:
        return local(_TIME.validate_python(value))
    except ValidationError as exc:
        raise WireError(
            f"args.{key}: {value[:64]!r} is not an ISO 8601 time with a UTC offset"
        ) from exc


def parse_window_args(config: EdgeConfig, args: Mapping[str, ScalarValue]) -> WindowRequest:
    """Check ``upload_window``'s args; ``WireError`` names the argument and the problem."""
    unknown = sorted(set(args) - WINDOW_ARGS)
    if unknown:
        raise WireError(f"args: unknown key {unknown[0]!r}")
    camera = args.get("camera")
    if not isinstance(camera, str) or not camera:
        raise WireError("args.camera: required (a camera id)")
    if camera not in {c.id for c in config.cameras}:
        raise WireError(f"args.camera: no camera with id {camera[:64]!r}")
    start, end = _time(args, "start"), _time(args, "end")
    if end <= start:
        raise WireError(f"args.end: {iso(end)} is not after args.start {iso(start)}")
    length = (end - start).total_seconds()
    if length > MAX_WINDOW_S:
        raise WireError(
            f"window of {length:g} s is too long: at most {MAX_WINDOW_S} s "
            f"({MAX_WINDOW_S // 60} min) per command; ask for several windows"
        )
    reason = args.get("reason")
    if reason is not None and not (
        isinstance(reason, str) and len(reason) <= MAX_REASON_CHARS and reason.isprintable()
    ):
        raise WireError(f"args.reason: at most {MAX_REASON_CHARS} printable characters")
    return WindowRequest(camera, start, end, reason or None)


def prepare_window(
    store: Store, command_id: str, request: WindowRequest
) -> tuple[str, Callable[[sqlite_utils.Database], None]]:
    """Check that something is recorded in the window and pin it; return the file id and the
    insert of the job, to run in the transaction that records the command id.

    Raises ``NotCoveredError`` naming the camera and window when no segment overlaps it."""
    if not store.segments_overlapping(request.camera, request.start, request.end):
        raise NotCoveredError(
            f"camera {request.camera}: nothing recorded between {iso(request.start)} "
            f"and {iso(request.end)}"
        )
    file_id = new_ulid()
    hold_id = add_hold(store, request.start, request.end, f"upload window {command_id}",
                       camera=request.camera, until=now() + timedelta(seconds=HOLD_S))  # fmt: skip

    def insert(db: sqlite_utils.Database) -> None:
        db.execute(
            "INSERT INTO upload_windows (command_id, file_id, camera, start, end, reason,"
            " hold_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (command_id, file_id, request.camera, iso(request.start), iso(request.end),
             request.reason, hold_id, iso(now())),
        )  # fmt: skip

    return file_id, insert


def window_state(store: Store, command_id: str) -> tuple[str, str | None] | None:
    """(state, note) of the window queued by ``command_id``, or None if there is none."""
    rows = store.query("SELECT state, note FROM upload_windows WHERE command_id = ?", (command_id,))
    return (rows[0]["state"], rows[0]["note"]) if rows else None


def _job(r: Any) -> WindowJob:
    start, end = parse_iso(r["start"]), parse_iso(r["end"])
    return WindowJob(r["command_id"], r["file_id"], r["camera"], start, end, r["reason"],
                     r["hold_id"])  # fmt: skip


class WindowClipper:
    """Cuts pending upload windows through the clip worker's ``cut``."""

    def __init__(self, config: EdgeConfig, store: Store, cut: CutFn) -> None:
        self.config = config
        self.store = store
        self.cut = cut

    def pending(self) -> list[WindowJob]:
        rows = self.store.query(
            "SELECT * FROM upload_windows WHERE state = 'pending' ORDER BY created_at"
        )
        return [_job(r) for r in rows]

    def process_pending(self, stop: threading.Event | None = None) -> int:
        """Cut every pending window whose end is recorded (or overdue); return how many."""
        done = 0
        for job in self.pending():
            if stop is not None and stop.is_set():
                break
            if self._process(job):
                done += 1
        return done

    def _ready(self, job: WindowJob) -> bool:
        last = self.store.last_segment(job.camera)
        if last is not None and last.end >= job.end:
            return True
        deadline = job.end + timedelta(seconds=2 * self.config.recording.segment_seconds + GRACE_S)
        return now() >= deadline

    def _process(self, job: WindowJob) -> bool:
        if self.store.clip(job.file_id) is not None:  # cut before a crash: never twice
            self._finish(job, "cut", None)
            return True
        if not self._ready(job):
            return False
        meta = {"command_id": job.command_id}
        if job.reason:
            meta["upload_reason"] = job.reason
        note = self.cut(job.camera, job.start, job.end, f"W{job.file_id}", meta, PRIORITY_WINDOW,
                        kind="window", file_id=job.file_id)  # fmt: skip
        self._finish(job, "cut" if note is None else "failed", note)
        return True

    def _finish(self, job: WindowJob, state: str, note: str | None) -> None:
        if state == "failed":
            self._report_failure(job, note or "the cut failed")
        else:
            with self.store.transaction() as db:
                _set_state(db, job, state, note)
        if job.hold_id is not None:
            remove_hold(self.store, job.hold_id)
        log.info("upload window %s (%s %s – %s): %s%s", job.command_id, job.camera,
                 iso(job.start), iso(job.end), state, f" ({note})" if note else "")  # fmt: skip

    def _report_failure(self, job: WindowJob, note: str) -> None:
        """A window accepted but not cut: central must learn it (the inspector waits for the
        clip), so an ``upload_window_failed`` event goes through the outbox, and the
        command's recorded result becomes the failure, in one transaction."""
        detail = f"upload window not cut: {note}"[:2000]
        data = {"command_id": job.command_id, "file_id": job.file_id, "camera": job.camera,
                "start": iso(job.start), "end": iso(job.end), "reason": note[:500]}  # fmt: skip

        def record_failure(db: sqlite_utils.Database, _event_id: str) -> None:
            _set_state(db, job, "failed", note)
            db.execute(
                "UPDATE commands SET ok = 0, detail = ?, data = ? WHERE id = ?",
                (detail, json.dumps({**data, "state": "failed"}), job.command_id),
            )

        record_event(self.store, "upload_window_failed", camera=job.camera, source="central",
                     data=data, clip=False, also=record_failure)  # fmt: skip


def _set_state(db: sqlite_utils.Database, job: WindowJob, state: str, note: str | None) -> None:
    db.execute(
        "UPDATE upload_windows SET state = ?, note = ? WHERE command_id = ?",
        (state, note, job.command_id),
    )
