"""Retention: a disk ring buffer over the recorded segments that never deletes pinned data.

The quota is the smaller of ``[retention] max_bytes`` (0 = no byte limit) and ``max_percent``
of the data volume. Usage counts the indexed segments and the clip files still on disk. When
usage passes the quota, the oldest unpinned segments (all cameras, by start time) are deleted:
the index row moves to ``deleted_segments`` in one transaction, then the file is unlinked, so
the index never names a missing file (a crash in between leaves an unindexed file that the
next pass removes).

A segment is pinned while it overlaps any of:

- the clip window ``[t - pre, t + post]`` of an event whose event or clip is not yet
  delivered (outbox state), or whose clip is not cut yet; and the span of every undelivered clip;
- an anomaly younger than ``anomaly_keep_hours``: the clip window of a
  ``metal_detector_reject``, ``seal_broken`` or ``camera_fault`` event, and of a camera's
  ``fault_cleared`` event (the onset and the end of a camera fault). Device faults pin nothing;
- a hold (``holds`` table: one camera or all, ``[start, end]``, reason, optional ``until``).

The live head (segments ending within ``pre + 2 segments`` of now) is never deleted either: an
event committed during the pass may still need it. If what is left is still over the quota,
the ``storage_critical`` device fault is raised (recording goes on); it clears when usage is
back under the quota. Clip files whose outbox item was delivered more than
``clip_grace_seconds`` ago are deleted (the row keeps ``deleted_at``); undelivered clips never.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edge.config import EdgeConfig
from edge.faults import DEVICE, Faults
from edge.health.disk import quota_bytes, used_bytes, volume
from edge.store import Store
from edge.timeutil import iso, now, parse_iso
from edge.worker import PeriodicWorker
from wire.errors import StoreError

log = logging.getLogger(__name__)

ANOMALY_KINDS = ("metal_detector_reject", "seal_broken", "camera_fault")
STORAGE_CRITICAL = "storage_critical"
BATCH = 500

Interval = tuple[float, float]


# -- holds ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Hold:
    id: int
    camera: str | None
    start: datetime
    end: datetime
    reason: str
    until: datetime | None


def add_hold(
    store: Store,
    start: datetime,
    end: datetime,
    reason: str,
    camera: str | None = None,
    until: datetime | None = None,
) -> int:
    """Pin ``[start, end]`` of ``camera`` (None = every camera) until ``until`` (None = removed)."""
    if end <= start:
        raise StoreError("hold: end must be after start")
    with store.transaction() as db:
        cursor = db.execute(
            "INSERT INTO holds (camera, start, end, start_ts, end_ts, reason, until, until_ts, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                camera,
                iso(start),
                iso(end),
                start.timestamp(),
                end.timestamp(),
                reason[:500],
                iso(until) if until else None,
                until.timestamp() if until else None,
                iso(now()),
            ),
        )
        return int(cursor.lastrowid or 0)


def remove_hold(store: Store, hold_id: int) -> bool:
    with store.transaction() as db:
        return db.execute("DELETE FROM holds WHERE id = ?", (hold_id,)).rowcount > 0


def holds(store: Store, at: datetime | None = None) -> list[Hold]:
    """Holds in force at ``at`` (default now): no ``until`` or ``until`` still ahead."""
    moment = (at or now()).timestamp()
    rows = store.query(
        "SELECT * FROM holds WHERE until_ts IS NULL OR until_ts > ? ORDER BY id", (moment,)
    )
    return [
        Hold(
            id=r["id"],
            camera=r["camera"],
            start=parse_iso(r["start"]),
            end=parse_iso(r["end"]),
            reason=r["reason"],
            until=parse_iso(r["until"]) if r["until"] else None,
        )
        for r in rows
    ]


# -- pins ----------------------------------------------------------------------------
def _merge(intervals: list[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


class Pins:
    """Pinned time intervals per camera; ``covers`` answers by binary search."""

    def __init__(self, per_camera: dict[str, list[Interval]], everywhere: list[Interval]):
        cameras = set(per_camera)
        self._merged = {c: _merge(per_camera.get(c, []) + everywhere) for c in cameras}
        self._everywhere = _merge(everywhere)
        self._starts = {c: [s for s, _ in iv] for c, iv in self._merged.items()}
        self._all_starts = [s for s, _ in self._everywhere]

    def covers(self, camera: str, start_ts: float, end_ts: float) -> bool:
        intervals = self._merged.get(camera, self._everywhere)
        starts = self._starts.get(camera, self._all_starts)
        i = bisect.bisect_left(starts, end_ts) - 1  # last interval starting before end_ts
        return i >= 0 and intervals[i][1] > start_ts


def compute_pins(config: EdgeConfig, store: Store, at: datetime | None = None) -> Pins:
    moment = (at or now()).timestamp()
    pre, post = config.clips.pre_seconds, config.clips.post_seconds
    per_camera: dict[str, list[Interval]] = {c.id: [] for c in config.cameras}
    everywhere: list[Interval] = []

    def pin(camera: str | None, start: float, end: float) -> None:
        if camera is None:
            everywhere.append((start, end))
        else:
            per_camera.setdefault(camera, []).append((start, end))

    undelivered = store.query(
        "SELECT e.occurred_ts, e.camera FROM events e WHERE e.clip_state != 'none' AND ("
        " e.clip_state = 'pending'"
        " OR EXISTS (SELECT 1 FROM outbox o WHERE o.item_kind = 'event' AND o.item_id = e.id"
        "            AND o.state = 'pending')"
        " OR EXISTS (SELECT 1 FROM clips c JOIN outbox o ON o.item_kind = 'file'"
        "            AND o.item_id = c.file_id WHERE c.event_id = e.id AND o.state = 'pending'))"
    )
    anomalies = store.query(
        "SELECT occurred_ts, camera FROM events WHERE occurred_ts >= ? AND (kind IN (?, ?, ?)"
        " OR (kind = 'fault_cleared' AND camera IS NOT NULL))",
        (moment - config.retention.anomaly_keep_hours * 3600, *ANOMALY_KINDS),
    )
    for r in [*undelivered, *anomalies]:
        pin(r["camera"], r["occurred_ts"] - pre, r["occurred_ts"] + post)
    for r in store.query(
        "SELECT c.camera, c.start, c.end FROM clips c JOIN outbox o ON o.item_kind = 'file'"
        " AND o.item_id = c.file_id WHERE o.state = 'pending'"
    ):
        pin(r["camera"], parse_iso(r["start"]).timestamp(), parse_iso(r["end"]).timestamp())
    for r in store.query(
        "SELECT camera, start_ts, end_ts FROM holds WHERE until_ts IS NULL OR until_ts > ?",
        (moment,),
    ):
        pin(r["camera"], r["start_ts"], r["end_ts"])
    return Pins(per_camera, everywhere)


# -- usage ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Usage:
    used_bytes: int
    quota_bytes: int
    pinned_bytes: int
    volume_total_bytes: int
    volume_free_bytes: int

    @property
    def over_quota(self) -> bool:
        return self.used_bytes > self.quota_bytes


def iter_segments(store: Store) -> Iterator[Any]:
    """Every indexed segment, oldest first, read in keyset batches to bound memory."""
    last_ts, last_id = float("-inf"), -1
    while True:
        rows = store.query(
            "SELECT id, camera, path, start, end, start_ts, end_ts, bytes, sha256 FROM segments"
            " WHERE start_ts > ? OR (start_ts = ? AND id > ?) ORDER BY start_ts, id LIMIT ?",
            (last_ts, last_ts, last_id, BATCH),
        )
        if not rows:
            return
        yield from rows
        last_ts, last_id = rows[-1]["start_ts"], rows[-1]["id"]


def pinned_bytes(config: EdgeConfig, store: Store, pins: Pins | None = None) -> int:
    """Bytes of pinned segments plus undelivered clip files."""
    pins = pins or compute_pins(config, store)
    total = sum(
        int(r["bytes"])
        for r in iter_segments(store)
        if pins.covers(r["camera"], r["start_ts"], r["end_ts"])
    )
    clips = store.query(
        "SELECT COALESCE(SUM(c.size), 0) FROM clips c JOIN outbox o ON o.item_kind = 'file'"
        " AND o.item_id = c.file_id WHERE o.state = 'pending' AND c.deleted_at IS NULL"
    )[0][0]
    return total + int(clips)


def usage(config: EdgeConfig, store: Store, pins: Pins | None = None) -> Usage:
    total, free = volume(config)
    return Usage(
        used_bytes=used_bytes(store),
        quota_bytes=quota_bytes(config, total),
        pinned_bytes=pinned_bytes(config, store, pins),
        volume_total_bytes=total,
        volume_free_bytes=free,
    )


# -- the retention pass --------------------------------------------------------------
@dataclass(frozen=True)
class RetentionReport:
    deleted_segments: int
    deleted_bytes: int
    deleted_clips: int
    usage: Usage


def _unlink(path: str) -> None:
    Path(path).unlink(missing_ok=True)


class Retention(PeriodicWorker):
    """Runs ``run_once`` every ``check_seconds`` in its own thread; idempotent ``close()``."""

    def __init__(self, config: EdgeConfig, store: Store, faults: Faults | None = None) -> None:
        self.config = config
        self.store = store
        self.faults = faults if faults is not None else Faults(store)
        super().__init__()
        self.last_report: RetentionReport | None = None

    thread_name = "retention"
    join_seconds = 30.0
    stall_seconds = 300.0
    errors = (StoreError, OSError)

    def interval(self) -> float:
        return self.config.retention.check_seconds

    def run_pass(self) -> object:
        return self.run_once()

    def run_once(self) -> RetentionReport:
        """One pass: finish interrupted deletions, expire delivered clips, enforce the quota."""
        self._finish_unlinks()
        clips = self._expire_clips()
        total, _ = volume(self.config)
        quota = quota_bytes(self.config, total)
        used = used_bytes(self.store)
        deleted = freed = 0
        pins = compute_pins(self.config, self.store)
        if used > quota:
            deleted, freed = self._delete_oldest(pins, used - quota)
        result = usage(self.config, self.store, pins)
        detail = {
            "used_bytes": result.used_bytes,
            "quota_bytes": result.quota_bytes,
            "pinned_bytes": result.pinned_bytes,
        }
        self.faults.set_fault(DEVICE, STORAGE_CRITICAL, result.over_quota, detail)
        if deleted or clips:
            log.info(
                "retention: deleted %d segment(s) (%d bytes) and %d clip(s); %d of %d bytes used",
                deleted,
                freed,
                clips,
                result.used_bytes,
                result.quota_bytes,
            )
        self.last_report = RetentionReport(deleted, freed, clips, result)
        return self.last_report

    def _delete_oldest(self, pins: Pins, excess: int) -> tuple[int, int]:
        cfg = self.config
        head = now().timestamp() - cfg.clips.pre_seconds - 2 * cfg.recording.segment_seconds
        batch: list[Any] = []
        deleted = freed = 0
        for row in iter_segments(self.store):
            if freed >= excess or self._stop.is_set():
                break
            if row["end_ts"] > head or pins.covers(row["camera"], row["start_ts"], row["end_ts"]):
                continue
            batch.append(row)
            freed += int(row["bytes"] or 0)
            if len(batch) >= 50:
                self.heartbeat.beat()
                deleted += self._delete(batch)
                batch = []
        if batch:
            deleted += self._delete(batch)
        return deleted, freed

    def _delete(self, rows: list[Any]) -> int:
        stamp = iso(now())
        with self.store.transaction() as db:
            for r in rows:
                db.execute(
                    "INSERT INTO deleted_segments (segment_id, camera, path, start, end, start_ts,"
                    " end_ts, bytes, sha256, reason, deleted_at) SELECT id, camera, path, start,"
                    " end, start_ts, end_ts, COALESCE(bytes, 0), sha256, 'quota', ? FROM segments"
                    " WHERE id = ?",
                    (stamp, r["id"]),
                )
                db.execute("DELETE FROM segments WHERE id = ?", (r["id"],))
        self._finish_unlinks()
        return len(rows)

    def _finish_unlinks(self) -> None:
        rows = self.store.query("SELECT id, path FROM deleted_segments WHERE unlinked = 0")
        for r in rows:
            _unlink(r["path"])
        if rows:
            with self.store.transaction() as db:
                db.conn.executemany(
                    "UPDATE deleted_segments SET unlinked = 1 WHERE id = ?",
                    [(r["id"],) for r in rows],
                )

    def _expire_clips(self) -> int:
        grace = self.config.retention.clip_grace_seconds
        cutoff = datetime.fromtimestamp(now().timestamp() - grace, timezone.utc)
        rows = self.store.query(
            "SELECT c.file_id, c.path, o.delivered_at FROM clips c JOIN outbox o"
            " ON o.item_kind = 'file' AND o.item_id = c.file_id"
            " WHERE o.state = 'delivered' AND c.deleted_at IS NULL AND o.delivered_at IS NOT NULL"
        )
        expired = [r for r in rows if parse_iso(r["delivered_at"]) <= cutoff]
        for r in expired:
            with self.store.transaction() as db:
                db.execute(
                    "UPDATE clips SET deleted_at = ? WHERE file_id = ?", (iso(now()), r["file_id"])
                )
            _unlink(r["path"])
        return len(expired)
