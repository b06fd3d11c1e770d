"""Uplink manners: a token bucket in kbit/s over everything the sync client publishes.

``[uplink] kbps`` caps the rate (0 = unlimited); ``[[uplink.schedule]]`` entries override it
for a local time-of-day window (``from``/``to`` as ``HH:MM``, a window may wrap midnight),
e.g. full speed at night. The bucket lets one message go into debt (a 256 KiB chunk is larger
than the burst allowance), so the long-run rate is exact and the next sender waits until the
debt is paid. ``delay()`` tells the drain thread how long to sleep; nothing busy-waits.
``set_rate`` replaces the cap and schedule while running (``config_refresh``); a sender that
is waiting re-checks at least every ``RECHECK_S``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from datetime import time as dtime

from edge.config import UplinkConfig

BURST_S = 0.1  # allowance the bucket may hold, in seconds of the current rate
RECHECK_S = 1.0  # longest sleep in ``wait`` before the rate is looked at again

Schedule = list[tuple[dtime, dtime, float]]


def parse_hhmm(value: str) -> dtime:
    hours, minutes = value.split(":")
    return dtime(int(hours), int(minutes))


def schedule_of(config: UplinkConfig) -> Schedule:
    """``[[uplink.schedule]]`` as (start, end, kbps) with parsed times."""
    return [(parse_hhmm(w.start), parse_hhmm(w.end), w.kbps) for w in config.schedule]


def in_window(at: dtime, start: dtime, end: dtime) -> bool:
    """``start <= at < end``; wraps midnight when ``end <= start`` (equal = all day)."""
    if start < end:
        return start <= at < end
    return at >= start or at < end


class TokenBucket:
    """Thread-safe; ``consume`` from any thread, ``delay``/``wait`` from the drain thread."""

    def __init__(
        self,
        kbps: float,
        schedule: Schedule | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wallclock: Callable[[], datetime] = datetime.now,
    ) -> None:
        self.kbps = kbps
        self.schedule = list(schedule or [])
        self.clock = clock
        self.wallclock = wallclock
        self._lock = threading.Lock()
        self._tokens = 0.0  # bytes; negative = debt
        self._stamp = clock()
        self._rate_seen = self.rate()

    def rate(self) -> float:
        """Current cap in bytes/s; 0 means unlimited."""
        kbps = self.kbps
        if self.schedule:
            at = self.wallclock().time()
            for start, end, value in self.schedule:
                if in_window(at, start, end):
                    kbps = value
                    break
        return kbps * 1000.0 / 8.0

    def set_rate(self, kbps: float, schedule: Schedule | None = None) -> None:
        """Replace the cap and the schedule; the new rate applies from now on (no burst)."""
        with self._lock:
            self._refill()  # settle what accrued at the old rate
            self.kbps = kbps
            self.schedule = list(schedule or [])

    def _refill(self) -> float:
        rate = self.rate()
        stamp = self.clock()
        if rate <= 0:
            self._tokens = 0.0  # unlimited: forget any debt
        else:
            if rate != self._rate_seen:
                self._tokens = min(self._tokens, 0.0)  # no burst from a rate change
            self._tokens = min(rate * BURST_S, self._tokens + (stamp - self._stamp) * rate)
        self._rate_seen = rate
        self._stamp = stamp
        return rate

    def delay(self) -> float:
        """Seconds until a message may go (0 = now)."""
        with self._lock:
            rate = self._refill()
            if rate <= 0 or self._tokens >= -1e-6:  # float remainder of a paid debt
                return 0.0
            return -self._tokens / rate

    def consume(self, nbytes: int) -> None:
        """Charge a message that is being sent (may drive the bucket into debt)."""
        with self._lock:
            if self._refill() > 0:
                self._tokens -= nbytes

    def wait(
        self,
        nbytes: int,
        stop: threading.Event,
        on_wait: Callable[[], None] | None = None,
    ) -> bool:
        """Sleep on ``stop`` until the bucket allows a message, then charge it; ``on_wait``
        is called before each nap (a heartbeat). False (nothing charged) if ``stop`` was set."""
        while True:
            pause = self.delay()
            if pause <= 0:
                break
            if on_wait is not None:
                on_wait()
            if stop.wait(min(pause, RECHECK_S)):
                return False
        self.consume(nbytes)
        return True
