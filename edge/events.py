"""Events: committed to SQLite first (with wall clock + offset and monotonic ns), then queued.

``record_event`` stores the event and its outbox entry in one transaction before anything
else happens; the clip worker cuts its clip later. Lower priority numbers drain first:
urgent events, events, event clips, loading-session clips, on-demand windows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlite_utils

from edge.store import Store
from edge.timeutil import local, now
from wire.errors import WireError
from wire.ids import new_ulid
from wire.models import EVENT_KINDS
from wire.topics import ID_PATTERN

URGENT_KINDS = frozenset({"metal_detector_reject", "seal_broken", "camera_fault", "device_fault"})
# loading sessions get a clip of the whole session instead (``edge.sessionclips``)
NO_CLIP_KINDS = frozenset(
    {"device_fault", "fault_cleared", "loading_start", "loading_end", "upload_window_failed"}
)

PRIORITY_URGENT = 0
PRIORITY_EVENT = 10
PRIORITY_FILE_OFFSET = 20
SESSION_CLIP_PRIORITY = 20  # file priority offset of loading-session clips: after event clips
# on-demand windows (``upload_window``): after every event and loading-session clip, whose
# file priorities are 20 + 0..99; health is not queued (``up/health`` has its own clock)
PRIORITY_WINDOW = PRIORITY_FILE_OFFSET + 100


def event_priority(kind: str) -> int:
    return PRIORITY_URGENT if kind in URGENT_KINDS else PRIORITY_EVENT


def file_priority(event_kind: str | None) -> int:
    """Clip files drain after every event; clips of urgent events before other clips."""
    return PRIORITY_FILE_OFFSET + (event_priority(event_kind) if event_kind else PRIORITY_EVENT)


def record_event(
    store: Store,
    kind: str,
    *,
    camera: str | None = None,
    source: str | None = None,
    data: dict[str, Any] | None = None,
    clip: bool | None = None,
    occurred_at: datetime | None = None,
    monotonic_ns: int | None = None,
    also: Callable[[sqlite_utils.Database, str], None] | None = None,
) -> str:
    """Commit an event and queue it in the outbox; return its ULID.

    ``clip`` defaults to True except for device faults; the clip worker of the ``run``
    process cuts ``[t - pre, t + post]`` for ``camera`` (or the kind's cameras when None).
    ``monotonic_ns`` is the ``time.monotonic_ns()`` of the moment (default: now); ``also``
    runs in the event's transaction with the new event id (it may raise to abort).
    """
    if kind not in EVENT_KINDS:
        raise WireError(f"kind: {kind!r} is not one of {', '.join(EVENT_KINDS)}")
    if camera is not None and not ID_PATTERN.match(camera):
        raise WireError(f"camera: {camera!r} is not an id of 1-64 characters [A-Za-z0-9_-]")
    mono = time.monotonic_ns() if monotonic_ns is None else monotonic_ns
    moment = local(occurred_at) if occurred_at is not None else now()
    event_id = new_ulid(int(moment.timestamp() * 1000))
    wants_clip = clip if clip is not None else kind not in NO_CLIP_KINDS
    store.add_event(
        event_id,
        kind,
        moment,
        mono,
        camera,
        source,
        dict(data or {}),
        "pending" if wants_clip else "none",
        event_priority(kind),
        also=None if also is None else lambda db: also(db, event_id),
    )
    return event_id
