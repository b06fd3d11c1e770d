"""A background thread that runs one pass every few seconds until it is closed.

The clip worker, the health monitor and retention share this lifecycle: ``start()``,
an idempotent ``close()`` that joins the thread, a context manager, and a loop in which a
failed pass is logged and the next one still runs (a bad segment never stops the edge).
Each has a ``Heartbeat`` (``edge.liveness``): a beat before and after every pass, and the
interval announced before the wait, so a pass that hangs longer than ``stall_seconds`` stops
the watchdog pings of ``run``. Long passes call ``self.heartbeat.beat()`` as they progress.
"""

from __future__ import annotations

import logging
import threading
from typing import TypeVar

from edge.liveness import Heartbeat
from wire.closing import Closeable
from wire.errors import ReeferWatchError

log = logging.getLogger(__name__)

W = TypeVar("W", bound="PeriodicWorker")


class PeriodicWorker(Closeable):
    """Subclasses set ``thread_name`` and implement ``interval()`` and ``run_pass()``."""

    thread_name = "worker"
    join_seconds = 30.0
    stall_seconds = 120.0  # the longest a pass may go without a beat
    errors: tuple[type[BaseException], ...] = (ReeferWatchError, OSError)

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.heartbeat = Heartbeat(self.thread_name, self.stall_seconds)

    def heartbeats(self) -> list[Heartbeat]:
        return [self.heartbeat]

    def interval(self) -> float:
        raise NotImplementedError

    def run_pass(self) -> object:
        raise NotImplementedError

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self.heartbeat.attach(self._thread)
        self._thread.start()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.join_seconds)

    def _run(self) -> None:
        try:
            self._loop()
        except Exception:
            # The thread ends here; its heartbeat says so and the watchdog restarts the edge.
            log.exception("%s: thread ended by an unexpected error", self.thread_name)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.heartbeat.beat()
            try:
                self.run_pass()
            except self.errors as exc:
                log.error("%s: pass failed: %s", self.thread_name, exc)
            interval = self.interval()
            self.heartbeat.expect(interval)
            self._stop.wait(interval)
