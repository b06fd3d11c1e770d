"""A background thread that runs one pass every few seconds until it is closed.

The clip worker, the health monitor and retention share this lifecycle: ``start()``,
an idempotent ``close()`` that joins the thread, a context manager, and a loop in which a
failed pass is logged and the next one still runs (a bad segment never stops the edge).
"""

from __future__ import annotations

import logging
import threading
from typing import TypeVar

from wire.closing import Closeable
from wire.errors import ReeferWatchError

log = logging.getLogger(__name__)

W = TypeVar("W", bound="PeriodicWorker")


class PeriodicWorker(Closeable):
    """Subclasses set ``thread_name`` and implement ``interval()`` and ``run_pass()``."""

    thread_name = "worker"
    join_seconds = 30.0
    errors: tuple[type[BaseException], ...] = (ReeferWatchError, OSError)

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    def interval(self) -> float:
        raise NotImplementedError

    def run_pass(self) -> object:
        raise NotImplementedError

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.join_seconds)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_pass()
            except self.errors as exc:
                log.error("%s: pass failed: %s", self.thread_name, exc)
            self._stop.wait(self.interval())
