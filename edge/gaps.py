"""Recording gaps, recorded as gaps: never papered over (table ``gaps``, migration 4).

A gap is ``(camera, start, end, reason)`` with reason ``offline`` (the stream died),
``restart`` (ffmpeg or the edge restarted) or ``quarantined`` (an unreadable segment). The
recorder writes one when the first segment after a hole arrives: from the end of the last
segment before to the start of the first after. A hole still going on is not in the table;
``status`` shows it from the age of the last segment. ``camera_state`` keeps each camera's
source description and clock drift for ``reeferwatch-edge status``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from edge.store import Store
from edge.timeutil import iso, now, parse_iso

REASONS = ("offline", "restart", "quarantined")


@dataclass(frozen=True)
class Gap:
    id: int
    camera: str
    start: datetime
    end: datetime
    reason: str


def _gap(r: Any) -> Gap:
    return Gap(
        id=int(r["id"]),
        camera=str(r["camera"]),
        start=parse_iso(r["start"]),
        end=parse_iso(r["end"]),
        reason=str(r["reason"]),
    )


def add_gap(store: Store, camera: str, start: datetime, end: datetime, reason: str) -> int | None:
    """Record a gap; empty ones are not recorded."""
    if reason not in REASONS:
        raise ValueError(f"gap reason {reason!r} is not one of {REASONS}")
    if end <= start:
        return None
    with store.transaction() as db:
        cursor = db.execute(
            "INSERT INTO gaps (camera, start, end, start_ts, end_ts, reason, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                camera,
                iso(start),
                iso(end),
                start.timestamp(),
                end.timestamp(),
                reason,
                iso(now()),
            ),
        )
        return int(cursor.lastrowid or 0)


def gaps(
    store: Store, camera: str, start: datetime | None = None, end: datetime | None = None
) -> list[Gap]:
    """The camera's gaps overlapping ``[start, end]`` (all when not given), oldest first."""
    lo = start.timestamp() if start else float("-inf")
    hi = end.timestamp() if end else float("inf")
    rows = store.query(
        "SELECT * FROM gaps WHERE camera = ? AND start_ts < ? AND end_ts > ? ORDER BY start_ts",
        (camera, hi, lo),
    )
    return [_gap(r) for r in rows]


def set_camera_state(store: Store, camera: str, source: str, clock_drift_s: float | None) -> None:
    with store.transaction() as db:
        db.execute(
            "INSERT OR REPLACE INTO camera_state (camera, source, clock_drift_s, updated_at) "
            "VALUES (?, ?, ?, ?)",
            (camera, source, clock_drift_s, iso(now())),
        )


def camera_state(store: Store, camera: str) -> tuple[str, float | None] | None:
    rows = store.query("SELECT * FROM camera_state WHERE camera = ?", (camera,))
    if not rows:
        return None
    drift = rows[0]["clock_drift_s"]
    return str(rows[0]["source"]), None if drift is None else float(drift)
