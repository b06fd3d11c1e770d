"""Index closed segments: probe, stamp, fsync, hash, move, index — and record the gaps.

A closed segment is probed (unreadable → ``quarantine/`` and a ``quarantined`` gap), gets
its own ``creation_time`` (``edge.mp4meta``), is fsynced, hashed (SHA-256), moved to
``segments/{camera}/{YYYY-mm-dd}/`` and indexed. A segment's end is its file's modification
time (the segmenter writes the trailer when it closes it); its start is the end minus the
probed duration. When a segment starts later than the previous one ended (beyond
``GAP_TOLERANCE_S``), the hole is recorded as a gap with the reason the recorder gives.
"""

from __future__ import annotations

import logging
import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

from edge import ffmpeg
from edge.config import EdgeConfig
from edge.gaps import add_gap
from edge.mp4meta import stamp_creation_time
from edge.store import Store
from edge.timeutil import local
from wire.errors import MediaError, StoreError
from wire.hashing import sha256_file

log = logging.getLogger(__name__)

GAP_TOLERANCE_S = 0.5
STAMP = re.compile(r"_(\d{8}T\d{6}[+-]\d{4})\.mp4$")


def file_metadata(config: EdgeConfig, camera: str) -> dict[str, str]:
    """MP4 metadata every recorded file carries (Art. 19: time and location code)."""
    meta = {
        "site": config.site.id,
        "device": config.site.device,
        "camera": camera,
        "location_code": config.site.location_code,
        "title": f"{config.site.location_code} {config.site.id} {camera}",
    }
    if config.site.registration_no:
        meta["registration_no"] = config.site.registration_no
    return meta


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SegmentIndexer:
    """One camera's closed segments → the store. Used by the camera's supervisor thread."""

    def __init__(
        self,
        store: Store,
        camera: str,
        segments_dir: Path,
        quarantine_dir: Path,
        segment_seconds: int,
    ) -> None:
        self.store = store
        self.camera = camera
        self.segments_dir = segments_dir
        self.quarantine_dir = quarantine_dir
        self.segment_seconds = segment_seconds
        last = store.last_segment(camera)
        self.prev_end: datetime | None = last.end if last else None
        # Why the next hole is there: the recorder sets "offline" during an outage.
        self.gap_reason = "restart"

    def handle(self, path: Path) -> datetime | None:
        """Index (or quarantine) the closed segment at ``path``; return its end if indexed."""
        if not path.exists():
            return None
        try:
            info = ffmpeg.probe(path)
        except MediaError as exc:
            self._quarantine(path, str(exc))
            return None
        try:
            end = local(datetime.fromtimestamp(path.stat().st_mtime, timezone.utc))
            start = end - timedelta(seconds=info.duration)
            stamp_creation_time(path, start)
            fsync_file(path)
            digest = sha256_file(path)
            size = path.stat().st_size
            day_dir = self.segments_dir / start.strftime("%Y-%m-%d")
            day_dir.mkdir(parents=True, exist_ok=True)
            dest = day_dir / path.name
            os.replace(path, dest)
            fsync_dir(day_dir)
            self._note_hole(start)
            self.store.add_segment(self.camera, dest, start, end, size, digest)
        except (OSError, StoreError) as exc:
            log.error("camera %s: cannot index segment %s: %s", self.camera, path.name, exc)
            return None
        self.prev_end = end if self.prev_end is None else max(self.prev_end, end)
        log.debug("camera %s: segment %s (%.2f s)", self.camera, dest.name, info.duration)
        return end

    def _note_hole(self, start: datetime) -> None:
        prev = self.prev_end
        if prev is not None and (start - prev).total_seconds() > GAP_TOLERANCE_S:
            add_gap(self.store, self.camera, prev, start, self.gap_reason)
            self.gap_reason = "restart"
            log.warning(
                "camera %s: gap of %.1f s (%s) before %s",
                self.camera,
                (start - prev).total_seconds(),
                self.gap_reason,
                start.isoformat(),
            )

    def _quarantine(self, path: Path, reason: str) -> None:
        try:
            end = local(datetime.fromtimestamp(path.stat().st_mtime, timezone.utc))
            dest = self.quarantine_dir / path.name
            os.replace(path, dest)
            log.warning("camera %s: quarantined %s: %s", self.camera, path.name, reason)
        except OSError as exc:
            log.error("camera %s: cannot quarantine %s: %s", self.camera, path.name, exc)
            return
        start = self._opened_at(path.name, end)
        try:
            add_gap(self.store, self.camera, start, end, "quarantined")
        except StoreError as exc:
            log.error("camera %s: cannot record the quarantine gap: %s", self.camera, exc)
            return
        if self.prev_end is not None and self.prev_end < end:
            self.prev_end = end

    def _opened_at(self, name: str, end: datetime) -> datetime:
        """When the segment was opened: its name's stamp if plausible, else one length back."""
        match = STAMP.search(name)
        fallback = end - timedelta(seconds=self.segment_seconds)
        if not match:
            return fallback
        try:
            opened = local(datetime.strptime(match.group(1), "%Y%m%dT%H%M%S%z"))
        except ValueError:
            return fallback
        span = (end - opened).total_seconds()
        return opened if 0 <= span <= 3 * self.segment_seconds + 5 else fallback
