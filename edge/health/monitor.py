"""The health thread of ``run``: camera checks on newly closed segments, then device checks.

Every ``[health] check_seconds`` it reads the segments indexed since its last pass (at most
``MAX_PER_PASS`` per camera: when it falls behind it checks the newest), samples a few
keyframes of each with PyAV and runs the camera checks, then the device checks. It reads
finished files only, so it never slows the recorder; a segment that cannot be decoded is
logged and skipped, never fatal.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from edge.clock import clock_synced
from edge.config import EdgeConfig
from edge.faults import Faults
from edge.health.camera import CameraChecker
from edge.health.device import THERMAL_ROOT, DeviceChecker
from edge.health.frames import Sample, sample_segment
from edge.rows import segment_from_row
from edge.store import Store
from edge.worker import PeriodicWorker
from wire.errors import MediaError, ReeferWatchError

log = logging.getLogger(__name__)

MAX_PER_PASS = 3


class HealthMonitor(PeriodicWorker):
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
        super().__init__()

    @property
    def temperature_c(self) -> float | None:
        return self.device.temperature_c

    thread_name = "health"
    join_seconds = 30.0
    errors = (ReeferWatchError, OSError, ValueError)

    def interval(self) -> float:
        return self.config.health.check_seconds

    def run_pass(self) -> object:
        return self.check_once()

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
                self.heartbeat.beat()
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
