"""The recorder: per camera one supervised segmenter ffmpeg fed by the camera's source.

The source (``edge.sources``) gives the segmenter's input: a pipe from a producer (testsrc's
encoder, picamera2) or an RTSP stream read by the segmenter itself. A supervisor thread per
camera indexes segments the segmenter closed (``edge.segments``), restarts the pair with
exponential back-off (cap 30 s) when it exits or no segment closes within twice the segment
length, and reports outages: an ``offline`` camera fault (``edge.faults``) when the source
dies or no data arrives for ``OFFLINE_AFTER_S``, cleared when segments flow again. While
backing off it probes the camera's port, so a camera that comes back is recorded at once.
The supervisor beats a ``Heartbeat`` every tick: a tick that hangs (longer than a source's
whole connect budget) stops the watchdog pings of ``run``.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from edge import ffmpeg, procs
from edge.config import EdgeConfig
from edge.faults import Faults
from edge.gaps import set_camera_state
from edge.liveness import Heartbeat
from edge.segments import SegmentIndexer, file_metadata, fsync_dir
from edge.sources import Producer, Source, make_source
from edge.sources.config import AnyCamera
from edge.sources.logpump import StderrPump
from edge.sources.secrets import private_dir
from edge.store import Store
from wire.closing import Closeable
from wire.errors import ConfigError, ExternalProgramMissing, MediaError, StoreError

__all__ = ["CameraRecorder", "CameraStatus", "Recorder", "file_metadata", "fsync_dir"]

log = logging.getLogger(__name__)

TICK_S = 1.0  # supervision period: closed segments, data flow, exits
BACKOFF_CAP_S = 30.0
STARTUP_GRACE_S = 5.0
OFFLINE_AFTER_S = 10.0
PROBE_EVERY_S = 1.0
OFFLINE = "offline"
STALL_S = 60.0  # a tick's allowance beyond its source's connect budget (3 × timeout_s)


@dataclass(frozen=True)
class CameraStatus:
    camera: str
    running: bool
    restarts: int
    last_segment_end: datetime | None
    source: str = ""
    clock_drift_s: float | None = None


class CameraRecorder(Closeable):
    """Supervises one camera's ffmpeg pair; ``close()`` is idempotent; a context manager."""

    def __init__(
        self,
        config: EdgeConfig,
        camera: AnyCamera,
        store: Store,
        source: Source | None = None,
        faults: Faults | None = None,
    ) -> None:
        self.config = config
        self.camera = camera
        self.store = store
        self.segment_seconds = config.recording.segment_seconds
        data = config.data_dir
        self.work_dir = data / "work" / camera.id
        self.runtime_dir = data / "run" / camera.id
        self.source = source if source is not None else make_source(camera, self.runtime_dir)
        self.faults = faults if faults is not None else Faults(store)
        self.indexer = SegmentIndexer(
            store,
            camera.id,
            data / "segments" / camera.id,
            data / "quarantine",
            self.segment_seconds,
        )
        self.source_command: list[str] = []
        self.segmenter_command: list[str] = []
        self.restarts = 0
        self.last_segment_end: datetime | None = None
        self.clock_drift_s: float | None = None
        self._producer: Producer | None = None
        self._source: subprocess.Popen[bytes] | None = None  # the producer's child, if any
        self._segmenter: subprocess.Popen[bytes] | None = None
        self._pump: StderrPump | None = None
        self._list_path: Path | None = None
        self._list_pos = 0
        self._failures = 0
        self._segments_this_run = 0
        self._next_start = 0.0
        self._next_probe = 0.0
        self._peer_down = False
        self._last_progress = 0.0
        self._last_data = time.monotonic()
        self._last_mtime = 0.0
        self._pair_started = 0.0
        self._outage_at: float | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        budget = 3 * float(getattr(camera, "timeout_s", 0.0))  # ONVIF: GetStreamUri and co.
        self.heartbeat = Heartbeat(f"recorder-{camera.id}", STALL_S + budget)

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        for folder in (self.work_dir, self.indexer.segments_dir, self.indexer.quarantine_dir):
            folder.mkdir(parents=True, exist_ok=True)
        private_dir(self.runtime_dir)
        if self.faults.is_active(self.camera.id, OFFLINE):
            self._outage_at = time.monotonic()
            self.indexer.gap_reason = OFFLINE
        self._sweep_orphans()
        self._thread = threading.Thread(
            target=self._run, name=f"recorder-{self.camera.id}", daemon=True
        )
        self.heartbeat.attach(self._thread)
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

    def status(self) -> CameraStatus:
        running = self._segmenter is not None and self._segmenter.poll() is None
        return CameraStatus(
            self.camera.id,
            running,
            self.restarts,
            self.last_segment_end,
            self.source.describe(),
            self.clock_drift_s,
        )

    def child_pids(self) -> list[int]:
        pids = self._producer.pids() if self._producer is not None else []
        return pids + ([self._segmenter.pid] if self._segmenter is not None else [])

    # -- supervision -----------------------------------------------------------------
    def _run(self) -> None:
        # The children are spawned from this thread and PR_SET_PDEATHSIG fires when the
        # spawning *thread* exits, so this thread also stops them before it ends.
        try:
            while not self._stop.is_set():
                self.heartbeat.beat()
                try:
                    self._tick()
                except (OSError, StoreError, MediaError) as exc:
                    log.error("camera %s: supervisor error: %s", self.camera.id, exc)
                self._stop.wait(TICK_S)
        finally:
            self._stop_pair()
            try:
                self._collect_closed()
                self._sweep_orphans()
            except (OSError, StoreError) as exc:
                log.error("camera %s: cannot index the last segment: %s", self.camera.id, exc)
            for stale in self.runtime_dir.glob("*"):
                stale.unlink(missing_ok=True)

    def _tick(self) -> None:
        now = time.monotonic()
        if self._segmenter is None:
            if now >= self._next_start or self._peer_back(now):
                self._start_pair()
            return
        self._collect_closed()
        self._note_data(now)
        exited = self._segmenter.poll() is not None or (
            self._producer is not None and not self._producer.running()
        )
        if exited:
            notes = [f"segmenter pid {self._segmenter.pid} rc {self._segmenter.returncode}"]
            if self._producer is not None:
                notes.append(self._producer.exit_note())
            log.warning(
                "camera %s: ffmpeg exited (%s); restarting", self.camera.id, ", ".join(notes)
            )
            self._restart_later("the stream ended")
        elif now - self._last_progress > self._stall_limit():
            log.warning(
                "camera %s: no segment closed for %.0f s; restarting",
                self.camera.id,
                now - self._last_progress,
            )
            self._restart_later("no segment closed")
        elif now - self._last_data > OFFLINE_AFTER_S:
            self._outage(f"no data for {now - self._last_data:.0f} s")

    def _note_data(self, now: float) -> None:
        """Data is flowing while the segment being written grows."""
        for path in self.work_dir.glob("*.mp4"):
            try:
                mtime = path.stat().st_mtime
            except FileNotFoundError:
                continue
            if mtime > self._last_mtime:
                self._last_mtime = mtime
                self._last_data = now

    def _peer_back(self, now: float) -> bool:
        """While backing off after the camera became unreachable: is it back?"""
        if not self._peer_down or now < self._next_probe:
            return False
        self._next_probe = now + PROBE_EVERY_S
        if self.source.reachable():
            log.info("camera %s: reachable again; starting now", self.camera.id)
            return True
        return False

    def _stall_limit(self) -> float:
        """Twice the segment length; the first segment after a start also gets a grace."""
        grace = 0.0 if self._segments_this_run else STARTUP_GRACE_S
        return 2 * self.segment_seconds + grace

    def _start_pair(self) -> None:
        self._peer_down = False
        try:
            source_input = self.source.prepare()
        except (MediaError, ConfigError, ExternalProgramMissing, OSError) as exc:
            log.error("camera %s: cannot start %s: %s", self.camera.id, self.source.kind, exc)
            self._restart_later(str(exc))
            return
        self.clock_drift_s = source_input.info.get("clock_drift_s")
        set_camera_state(self.store, self.camera.id, self.source.describe(), self.clock_drift_s)
        for stale in self.work_dir.glob("list-*.csv"):
            stale.unlink()
        self._list_path = self.work_dir / f"list-{int(time.time() * 1000)}.csv"
        self._list_pos = 0
        self._segments_this_run = 0
        pattern = self.work_dir / f"{self.config.site.id}_{self.camera.id}_%Y%m%dT%H%M%S%z.mp4"
        self.segmenter_command = ffmpeg.segmenter_command(
            self.segment_seconds,
            pattern,
            self._list_path,
            file_metadata(self.config, self.camera.id),
            source_input.args,
        )
        pump = self._pump = StderrPump(
            self.work_dir / "ffmpeg.log", self.camera.id, source_input.secrets
        )
        producer = self._producer = source_input.producer
        stdin: int = subprocess.DEVNULL
        write_end = -1
        if producer is not None:
            stdin, write_end = os.pipe()
        try:
            self._segmenter = procs.spawn(self.segmenter_command, stdin=stdin, stderr=pump.fd)
            if producer is not None:
                producer.start(write_end, pump.fd)
                write_end = -1  # the producer owns it now
        finally:
            if producer is not None:
                os.close(stdin)
            if write_end >= 0:
                os.close(write_end)
            pump.close()
        process = getattr(producer, "process", None)
        self._source = process if isinstance(process, subprocess.Popen) else None
        self.source_command = list(getattr(producer, "argv", []))
        self._pair_started = self._last_progress = time.monotonic()
        log.info(
            "camera %s: recording %s (pids %s)",
            self.camera.id,
            self.source.describe(),
            ", ".join(str(p) for p in self.child_pids()),
        )

    def _stop_pair(self) -> None:
        # Stop the producer first: the segmenter then sees EOF and writes the last trailer.
        if self._producer is not None:
            self._producer.stop()
        procs.stop(self._segmenter, timeout=10)
        if self._pump is not None:
            self._pump.join()
        self._producer = self._source = self._segmenter = self._pump = None

    def _restart_later(self, reason: str) -> None:
        self._stop_pair()
        self._collect_closed()
        self._sweep_orphans()
        self._failures += 1
        self.restarts += 1
        delay = min(BACKOFF_CAP_S, 2.0 ** (self._failures - 1))
        now = time.monotonic()
        self._next_start = now + delay
        self._peer_down = self.source.reachable() is False
        self._next_probe = now + PROBE_EVERY_S
        if self._peer_down:
            self._outage(f"{reason}; {self.source.kind} peer unreachable")
        elif now - self._last_data > OFFLINE_AFTER_S:
            self._outage(f"{reason}; no data for {now - self._last_data:.0f} s")
        log.info("camera %s: restart in %.0f s", self.camera.id, delay)

    # -- faults ----------------------------------------------------------------------
    def _outage(self, reason: str) -> None:
        if self._outage_at is not None:
            return
        self._outage_at = time.monotonic()
        self.indexer.gap_reason = OFFLINE
        last = self.indexer.prev_end.isoformat() if self.indexer.prev_end else None
        self.faults.raise_fault(
            self.camera.id,
            OFFLINE,
            {"reason": reason, "source": self.source.describe(), "last_segment_end": last},
        )

    def _flowing(self) -> None:
        self._last_data = time.monotonic()
        outage = self._outage_at
        if outage is not None and self._segmenter is not None and self._pair_started > outage:
            self._outage_at = None
            self.faults.clear_fault(self.camera.id, OFFLINE, {"source": self.source.describe()})

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
        end = self.indexer.handle(path)
        if end is None:
            return
        self.last_segment_end = end
        self._last_progress = time.monotonic()
        self._segments_this_run += 1
        self._failures = 0
        self._flowing()


class Recorder(Closeable):
    """All cameras of the device; ``close()`` is idempotent; a context manager."""

    def __init__(self, config: EdgeConfig, store: Store, faults: Faults | None = None) -> None:
        faults = faults if faults is not None else Faults(store)
        self.cameras = [CameraRecorder(config, cam, store, faults=faults) for cam in config.cameras]
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

    def status(self) -> list[CameraStatus]:
        return [cam.status() for cam in self.cameras]

    def heartbeats(self) -> list[Heartbeat]:
        return [cam.heartbeat for cam in self.cameras]
