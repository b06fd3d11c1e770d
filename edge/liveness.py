"""Liveness of the ``run`` threads, for the systemd watchdog.

Every long-lived worker thread owns a ``Heartbeat``. The thread beats once per loop and
inside long passes; before a deliberate long wait (a periodic worker's interval) it says so
with ``expect(seconds)``. ``Heartbeat.problem()`` is None while the thread is alive and beat
recently enough, otherwise it says what is wrong (not started, thread ended, silent for how
long). ``Watchdog.tick()`` — the main loop, every ``TICK_S`` — sends ``WATCHDOG=1`` only when
no heartbeat has a problem; otherwise it logs which thread is stuck, puts it in the unit's
status line and sends nothing, so systemd kills and restarts the service after
``WatchdogSec``. A thread that recovers before then makes the pings resume.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Protocol

log = logging.getLogger(__name__)

TICK_S = 10.0  # the main loop's check and ping period (WatchdogSec=60 in the unit)


def monotonic() -> float:
    """The heartbeat clock (a function of this module, so a test can replace it)."""
    return time.monotonic()


class Heartbeat:
    """One thread's sign of life; thread-safe. ``stall_s``: the longest silence allowed."""

    def __init__(self, name: str, stall_s: float, clock: Callable[[], float] | None = None) -> None:
        self.name = name
        self.stall_s = stall_s
        self._clock = clock
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._last = 0.0
        self._deadline = 0.0

    def now(self) -> float:
        return self._clock() if self._clock is not None else monotonic()

    def attach(self, thread: threading.Thread) -> None:
        """The thread this heartbeat watches (call before ``thread.start()``)."""
        self._thread = thread
        self.beat()

    def beat(self) -> None:
        """The thread is making progress."""
        self._set(0.0)

    def expect(self, seconds: float) -> None:
        """The thread is about to wait up to ``seconds`` on purpose; silence that long is fine."""
        self._set(max(0.0, seconds))

    def _set(self, extra: float) -> None:
        moment = self.now()
        with self._lock:
            self._last = moment
            self._deadline = moment + extra + self.stall_s

    def problem(self) -> str | None:
        """None while alive and recent; otherwise what is wrong, in words."""
        thread = self._thread
        if thread is None:
            return "not started"
        if not thread.is_alive():
            return "its thread has ended"
        moment = self.now()
        with self._lock:
            last, deadline = self._last, self._deadline
        if moment > deadline:
            return (
                f"no heartbeat for {moment - last:.0f} s (allowed {deadline - last:.0f} s): stuck"
            )
        return None

    def alive(self) -> bool:
        return self.problem() is None


class Monitored(Protocol):
    """A part of ``run`` whose threads the watchdog watches."""

    def heartbeats(self) -> list[Heartbeat]: ...


class Watchdog:
    """Pings systemd's watchdog only while every heartbeat is healthy."""

    def __init__(self, heartbeats: Iterable[Heartbeat], notify: Callable[[str], None]) -> None:
        self.heartbeats = list(heartbeats)
        self.notify = notify
        self.stuck: list[str] = []

    def problems(self) -> list[str]:
        found = []
        for beat in self.heartbeats:
            problem = beat.problem()
            if problem is not None:
                found.append(f"{beat.name}: {problem}")
        return found

    def tick(self) -> bool:
        """Check every heartbeat; ping if all are healthy. True if it pinged."""
        problems = self.problems()
        if problems:
            log.error(
                "watchdog: not pinging systemd, which restarts the edge unless this clears: %s",
                "; ".join(problems),
            )
            self.notify(f"STATUS=stuck: {'; '.join(problems)}")
            self.stuck = problems
            return False
        if self.stuck:
            log.warning("watchdog: every worker is alive again (was: %s)", "; ".join(self.stuck))
            self.notify("STATUS=running")
            self.stuck = []
        self.notify("WATCHDOG=1")
        return True
