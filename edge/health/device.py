"""Device health: disk space, clock synchronisation and CPU temperature.

- ``disk_low``: free space on the data volume below ``min_free_percent``;
- ``clock_unsynchronised``: the kernel clock is not NTP/PTP-disciplined (``edge.clock``);
  timestamps are evidence, so this is a fault (off with ``clock_check = false``). It waits
  ``clock_grace_seconds`` after start: a Pi has no RTC and NTP needs a moment after boot;
- ``temperature_high``: the hottest ``/sys/class/thermal/thermal_zone*/temp`` is above
  ``temperature_max_c``. Where no zone is readable the check is skipped (not a fault).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from edge.clock import clock_synced
from edge.config import EdgeConfig
from edge.faults import DEVICE, Faults
from edge.health.disk import volume

log = logging.getLogger(__name__)

THERMAL_ROOT = Path("/sys/class/thermal")
DEVICE_FAULTS = ("disk_low", "clock_unsynchronised", "temperature_high")


def read_temperature(root: Path = THERMAL_ROOT) -> float | None:
    """The hottest thermal zone in °C, or None where none is readable."""
    readings: list[float] = []
    for zone in sorted(root.glob("thermal_zone*/temp")):
        try:
            readings.append(int(zone.read_text().strip()) / 1000.0)
        except (OSError, ValueError) as exc:
            log.debug("thermal zone %s unreadable: %s", zone, exc)
    return max(readings) if readings else None


class DeviceChecker:
    """Runs the device checks; the clock and thermal sources are injectable for tests."""

    def __init__(
        self,
        config: EdgeConfig,
        faults: Faults,
        clock: Callable[[], bool] = clock_synced,
        thermal_root: Path = THERMAL_ROOT,
    ) -> None:
        self.config = config
        self.faults = faults
        self.clock = clock
        self.thermal_root = thermal_root
        self.temperature_c: float | None = None
        self._started = time.monotonic()

    def check(self) -> dict[str, bool]:
        """Evaluate every device check; return the conditions judged (name → faulty)."""
        cfg = self.config.health
        judged: dict[str, bool] = {}
        total, free = volume(self.config)
        if total > 0:
            free_percent = 100.0 * free / total
            judged["disk_low"] = free_percent < cfg.min_free_percent
            self.faults.set_fault(
                DEVICE, "disk_low", judged["disk_low"], {"free_percent": free_percent}
            )
        if cfg.clock_check:
            synced = self.clock()
            if synced or time.monotonic() - self._started >= cfg.clock_grace_seconds:
                judged["clock_unsynchronised"] = not synced
                self.faults.set_fault(DEVICE, "clock_unsynchronised", not synced)
        self.temperature_c = read_temperature(self.thermal_root)
        if self.temperature_c is not None:
            hot = self.temperature_c > cfg.temperature_max_c
            judged["temperature_high"] = hot
            self.faults.set_fault(DEVICE, "temperature_high", hot, {"celsius": self.temperature_c})
        return judged
