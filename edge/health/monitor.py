"""The health thread of ``run``: camera checks on newly closed segments, then device checks.

Every ``[health] check_seconds`` it reads the segments indexed since its last pass (at most
``MAX_PER_PASS`` per camera: when it falls behind it checks the newest), samples a few
keyframes of each with PyAV and runs the camera checks, then the device checks. It reads
finished files only, so it never slows the recorder; a segment that cannot be decoded is
logged and skipped, never fatal.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from edge.clock import clock_synced
from edge.config import EdgeConfig
from edge.faults import Faults
from edge.health.camera import CameraChecker
from edge.health.device import THERMAL_ROOT, DeviceChecker
from edge.health.frames import Sample, sample_segment
from edge.rows import segment_from_row
from edge.store import Store
from wire.errors import MediaError, ReeferWatchError

log = logging.getLogger(__name__)

MAX_PER_PASS = 3


class HealthMonitor:
    """Health checks in their own thread; ``close()`` is idempotent; a context manager."""

    def __init__(
        self,
        config: EdgeConfig,
        store: Store,
        faults: Faults | None = None,
        clock: Callable[[], bool] = clock_synced,
        thermal_root: Path = THERMAL_ROOT,
    ) -> None:
        self.config = config
        self.store = store
        self.faults = faults if faults is not None else Faults(store)
        self.device = DeviceChecker(config, self.faults, clock, thermal_root)
        hcfg = config.health
        self.cameras = {c.id: CameraChecker(c.id, hcfg, self.faults, store) for c in config.cameras}
        top = store.query("SELECT COALESCE(MAX(id), 0) FROM segments")[0][0]
        self._seen = {c.id: int(top) for c in config.cameras}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def temperature_c(self) -> float | None:
        return self.device.temperature_c

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="health", daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def __enter__(self) -> HealthMonitor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.check_once()
            except (ReeferWatchError, OSError, ValueError) as exc:
                log.error("health: pass failed: %s", exc)
            self._stop.wait(self.config.health.check_seconds)

    def check_once(self) -> int:
        """Check new segments of every camera, then the device; return segments checked."""
        checked = 0
        for camera, checker in self.cameras.items():
            rows = self.store.query(
                "SELECT * FROM segments WHERE camera = ? AND id > ? ORDER BY id",
                (camera, self._seen[camera]),
            )
            if not rows:
                continue
            self._seen[camera] = int(rows[-1]["id"])
            for row in rows[-MAX_PER_PASS:]:
                if self._stop.is_set():
                    return checked
                segment = segment_from_row(row)
                sample = self._sample(segment.path)
                if sample is not None:
                    checker.check(segment, sample)
                    checked += 1
        self.device.check()
        return checked

    def _sample(self, path: Path) -> Sample | None:
        try:
            return sample_segment(path, self.config.health.frames_per_segment)
        except MediaError as exc:
            log.warning("health: skipped a segment: %s", exc)
            return None
