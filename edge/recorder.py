"""The recorder: per camera a source ffmpeg piped into a segmenter ffmpeg (stream copy).

A supervisor thread per camera notices segments the segmenter closed (its CSV segment
list), probes them (unreadable → ``quarantine/``), fsyncs and hashes them, moves them to
``{data_dir}/segments/{camera}/{YYYY-mm-dd}/`` and indexes them in the store. It restarts the
ffmpeg pair with exponential back-off (cap 30 s) when either exits or no segment closes
within twice the segment length. A bad segment is logged, never fatal.

A closed segment's end is its file's modification time (the segmenter writes the MP4
trailer when the next keyframe after the clock boundary arrives); its start is the end
minus the probed duration. The file name carries the opening time to the second.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import TracebackType

from edge import ffmpeg, procs
from edge.config import CameraConfig, EdgeConfig
from edge.store import Store
from edge.timeutil import local
from wire.errors import MediaError, StoreError
from wire.hashing import sha256_file

log = logging.getLogger(__name__)

BACKOFF_CAP_S = 30.0
STARTUP_GRACE_S = 5.0


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


@dataclass(frozen=True)
class CameraStatus:
    camera: str
    running: bool
    restarts: int
    last_segment_end: datetime | None


class CameraRecorder:
    """Supervises one camera's ffmpeg pair; ``close()`` is idempotent; a context manager."""

    def __init__(self, config: EdgeConfig, camera: CameraConfig, store: Store) -> None:
        self.config = config
        self.camera = camera
        self.store = store
        self.segment_seconds = config.recording.segment_seconds
        data = config.data_dir
        self.work_dir = data / "work" / camera.id
        self.segments_dir = data / "segments" / camera.id
        self.quarantine_dir = data / "quarantine"
        self.source_command: list[str] = []
        self.segmenter_command: list[str] = []
        self.restarts = 0
        self.last_segment_end: datetime | None = None
        self._source: subprocess.Popen[bytes] | None = None
        self._segmenter: subprocess.Popen[bytes] | None = None
        self._list_path: Path | None = None
        self._list_pos = 0
        self._failures = 0
        self._segments_this_run = 0
        self._next_start = 0.0
        self._last_progress = 0.0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        for folder in (self.work_dir, self.segments_dir, self.quarantine_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self._sweep_orphans()
        self._thread = threading.Thread(
            target=self._run, name=f"recorder-{self.camera.id}", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        else:
            self._stop_pair()

    def __enter__(self) -> CameraRecorder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def status(self) -> CameraStatus:
        running = self._segmenter is not None and self._segmenter.poll() is None
        return CameraStatus(self.camera.id, running, self.restarts, self.last_segment_end)

    def child_pids(self) -> list[int]:
        return [p.pid for p in (self._source, self._segmenter) if p is not None]

    # -- supervision -----------------------------------------------------------------
    def _run(self) -> None:
        # The children are spawned from this thread and PR_SET_PDEATHSIG fires when the
        # spawning *thread* exits, so this thread also stops them before it ends.
        try:
            while not self._stop.is_set():
                try:
                    self._tick()
                except (OSError, StoreError, MediaError) as exc:
                    log.error("camera %s: supervisor error: %s", self.camera.id, exc)
                self._stop.wait(0.25)
        finally:
            self._stop_pair()
            try:
                self._collect_closed()
                self._sweep_orphans()
            except (OSError, StoreError) as exc:
                log.error("camera %s: cannot index the last segment: %s", self.camera.id, exc)

    def _tick(self) -> None:
        now = time.monotonic()
        if self._segmenter is None:
            if now >= self._next_start:
                self._start_pair()
            return
        self._collect_closed()
        exited = [
            p for p in (self._source, self._segmenter) if p is not None and p.poll() is not None
        ]
        if exited:
            log.warning(
                "camera %s: ffmpeg exited (%s); restarting",
                self.camera.id,
                ", ".join(f"pid {p.pid} rc {p.returncode}" for p in exited),
            )
            self._restart_later()
        elif now - self._last_progress > self._stall_limit():
            log.warning(
                "camera %s: no segment closed for %.0f s; restarting",
                self.camera.id,
                now - self._last_progress,
            )
            self._restart_later()

    def _stall_limit(self) -> float:
        """Twice the segment length; the first segment after a start also gets a grace."""
        grace = 0.0 if self._segments_this_run else STARTUP_GRACE_S
        return 2 * self.segment_seconds + grace

    def _start_pair(self) -> None:
        for stale in self.work_dir.glob("list-*.csv"):
            stale.unlink()
        self._list_path = self.work_dir / f"list-{int(time.time() * 1000)}.csv"
        self._list_pos = 0
        self._segments_this_run = 0
        cam = self.camera
        pattern = self.work_dir / f"{self.config.site.id}_{cam.id}_%Y%m%dT%H%M%S%z.mp4"
        self.source_command = ffmpeg.testsrc_command(
            cam.width, cam.height, cam.fps, cam.bitrate_kbps
        )
        self.segmenter_command = ffmpeg.segmenter_command(
            self.segment_seconds,
            pattern,
            self._list_path,
            file_metadata(self.config, cam.id),
        )
        with (self.work_dir / "ffmpeg.log").open("ab") as errlog:
            self._source = procs.spawn(self.source_command, stdout=subprocess.PIPE, stderr=errlog)
            self._segmenter = procs.spawn(
                self.segmenter_command, stdin=self._source.stdout, stderr=errlog
            )
        if self._source.stdout is not None:
            self._source.stdout.close()  # the segmenter holds the read end now
            self._source.stdout = None
        self._last_progress = time.monotonic()
        log.info(
            "camera %s: recording (source pid %d, segmenter pid %d)",
            cam.id,
            self._source.pid,
            self._segmenter.pid,
        )

    def _stop_pair(self) -> None:
        # Stop the source first: the segmenter then sees EOF and writes the last trailer.
        procs.stop(self._source)
        procs.stop(self._segmenter, timeout=10)
        self._source = self._segmenter = None

    def _restart_later(self) -> None:
        self._stop_pair()
        self._collect_closed()
        self._sweep_orphans()
        self._failures += 1
        self.restarts += 1
        delay = min(BACKOFF_CAP_S, 2.0 ** (self._failures - 1))
        self._next_start = time.monotonic() + delay
        log.info("camera %s: restart in %.0f s", self.camera.id, delay)

    # -- closed segments -------------------------------------------------------------
    def _collect_closed(self) -> None:
        if self._list_path is None or not self._list_path.exists():
            return
        with self._list_path.open("rb") as fh:
            fh.seek(self._list_pos)
            data = fh.read()
        complete, _, _ = data.rpartition(b"\n")
        if not complete:
            return
        self._list_pos += len(complete) + 1
        for line in complete.decode(errors="replace").splitlines():
            name = line.split(",", 1)[0].strip().strip('"')
            if name:
                self._handle_closed(self.work_dir / Path(name).name)

    def _sweep_orphans(self) -> None:
        """Segments left in the work dir by a segmenter that died: index or quarantine."""
        for path in sorted(self.work_dir.glob("*.mp4")):
            self._handle_closed(path)

    def _handle_closed(self, path: Path) -> None:
        if not path.exists():
            return
        try:
            info = ffmpeg.probe(path)
        except MediaError as exc:
            self._quarantine(path, str(exc))
            return
        try:
            end = local(datetime.fromtimestamp(path.stat().st_mtime, timezone.utc))
            start = end - timedelta(seconds=info.duration)
            fsync_file(path)
            digest = sha256_file(path)
            size = path.stat().st_size
            day_dir = self.segments_dir / start.strftime("%Y-%m-%d")
            day_dir.mkdir(parents=True, exist_ok=True)
            dest = day_dir / path.name
            os.replace(path, dest)
            fsync_dir(day_dir)
            self.store.add_segment(self.camera.id, dest, start, end, size, digest)
        except (OSError, StoreError) as exc:
            log.error("camera %s: cannot index segment %s: %s", self.camera.id, path.name, exc)
            return
        self.last_segment_end = end
        self._last_progress = time.monotonic()
        self._segments_this_run += 1
        self._failures = 0
        log.debug("camera %s: segment %s (%.2f s)", self.camera.id, dest.name, info.duration)

    def _quarantine(self, path: Path, reason: str) -> None:
        try:
            dest = self.quarantine_dir / path.name
            os.replace(path, dest)
            log.warning("camera %s: quarantined %s: %s", self.camera.id, path.name, reason)
        except OSError as exc:
            log.error("camera %s: cannot quarantine %s: %s", self.camera.id, path.name, exc)


class Recorder:
    """All cameras of the device; ``close()`` is idempotent; a context manager."""

    def __init__(self, config: EdgeConfig, store: Store) -> None:
        self.cameras = [CameraRecorder(config, cam, store) for cam in config.cameras]
        self._closed = False

    def start(self) -> None:
        for cam in self.cameras:
            cam.start()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for cam in self.cameras:
            cam.close()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def status(self) -> list[CameraStatus]:
        return [cam.status() for cam in self.cameras]
