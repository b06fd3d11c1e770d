"""GPIO inputs → events: debounce, minimum pulse, SQLite first; the demo's mock-pin simulation.

Each configured input is opened on the ``[gpio] backend`` (``edge.pins``). After every edge
the input's level is read and fed to an ``EdgeTracker``: a change is accepted only when at
least ``debounce_ms`` passed since the last accepted change (changes inside the window are
re-checked when it ends, so the final level is never missed); an activation becomes an event
only once the input has stayed active for ``min_pulse_ms`` (shorter pulses are noise). The
event is committed with the wall-clock time (with offset) and ``monotonic_ns`` of the
activating edge, and only then is ``on_event(input_name, event_id)`` called.
``[gpio.simulation]`` pulses one mock input every N seconds.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from edge.config import GpioConfig, GpioInput
from edge.events import record_event
from edge.liveness import Heartbeat
from edge.pins import InputPin, PinBackend, open_backend
from edge.store import Store
from edge.timeutil import now
from wire.closing import Closeable
from wire.errors import ConfigError, ReeferWatchError

log = logging.getLogger(__name__)

PULSE_S = 0.2
STALL_S = 60.0  # the re-check thread wakes at least every second
_MS = 1_000_000


class EdgeTracker:
    """Pure debounce/min-pulse logic of one input, in monotonic nanoseconds."""

    def __init__(self, debounce_ms: int, min_pulse_ms: int, active: bool = False) -> None:
        self.debounce_ns = debounce_ms * _MS
        self.min_pulse_ns = min_pulse_ms * _MS
        self.active = active
        self.last_accept_ns: int | None = None
        self.pending_ns: int | None = None  # activation waiting for min_pulse

    def update(self, level: bool, t: int) -> tuple[int | None, int | None]:
        """Feed the current level at ``t``; return (event time or None, re-check time or None)."""
        if level != self.active:
            if self.last_accept_ns is not None and t - self.last_accept_ns < self.debounce_ns:
                return None, self.last_accept_ns + self.debounce_ns
            self.active = level
            self.last_accept_ns = t
            if not level:
                self.pending_ns = None  # released: a pending short pulse was noise
                return None, None
            if self.min_pulse_ns == 0:
                return t, None
            self.pending_ns = t
            return None, t + self.min_pulse_ns
        if level and self.pending_ns is not None:
            if t - self.pending_ns >= self.min_pulse_ns:
                start, self.pending_ns = self.pending_ns, None
                return start, None
            return None, self.pending_ns + self.min_pulse_ns
        return None, None


class GpioInputs(Closeable):
    """The configured inputs; ``close()`` is idempotent; a context manager."""

    def __init__(
        self,
        config: GpioConfig,
        store: Store,
        on_event: Callable[[str, str], None] | None = None,
        backend: PinBackend | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.on_event = on_event
        self.backend = backend
        self._own_backend = backend is None
        self.pins: dict[str, InputPin] = {}
        self.trackers: dict[str, EdgeTracker] = {}
        self.specs = {spec.name: spec for spec in config.inputs}
        self._lock = threading.RLock()
        self._due: list[tuple[int, str]] = []
        self._wake = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._closed = False
        self.heartbeat = Heartbeat("gpio", STALL_S)

    def heartbeats(self) -> list[Heartbeat]:
        """The re-check thread (edges, debounce, min pulse); the simulation is not watched."""
        return [self.heartbeat]

    def start(self) -> None:
        try:
            if self.backend is None:
                self.backend = open_backend(self.config.backend, self.config.numbering)
            for spec in self.config.inputs:
                pin = self.backend.open_input(
                    spec.pin, pull=spec.pull_mode, active_high=spec.active_high,  # type: ignore[arg-type]
                    bounce_ms=spec.debounce_ms, on_change=self._changed(spec.name),
                )  # fmt: skip
                self.pins[spec.name] = pin
                self.trackers[spec.name] = EdgeTracker(
                    spec.debounce_ms, spec.min_pulse_ms, pin.is_active()
                )
        except (ReeferWatchError, OSError, ImportError) as exc:
            self.close()
            raise ConfigError(f"gpio: cannot open inputs ({exc})") from exc
        self.heartbeat.attach(self._spawn(self._recheck_loop, "gpio-recheck"))
        sim = self.config.simulation
        if sim is not None:
            self._spawn(lambda: self._simulate(sim.pulse_input, sim.every_seconds), "gpio-sim")

    def _spawn(self, target: Callable[[], None], name: str) -> threading.Thread:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()
        return thread

    def _changed(self, name: str) -> Callable[[bool | None], None]:
        return lambda level: self.evaluate(name, level)

    def evaluate(self, name: str, level: bool | None = None) -> None:
        """Act on ``name``'s ``level`` at an edge, or on the level read now (re-checks).

        Using the level the backend saw at the edge means a callback that runs late — the
        pulse already over — still counts the pulse instead of reading it as inactive."""
        with self._lock:
            pin, tracker = self.pins.get(name), self.trackers.get(name)
            if pin is None or tracker is None or self._closed:
                return
            t = time.monotonic_ns()
            wall = now()
            emit, recheck = tracker.update(pin.is_active() if level is None else level, t)
            if recheck is not None:
                heapq.heappush(self._due, (recheck, name))
                self._wake.notify()
            if emit is None:
                return
            spec = self.specs[name]
            occurred = wall - timedelta(microseconds=(t - emit) // 1000)
            try:
                event_id = record_event(self.store, spec.kind, source=name,
                                        data={"pin": spec.pin}, occurred_at=occurred,
                                        monotonic_ns=emit)  # fmt: skip
            except ReeferWatchError as exc:
                log.error("gpio %s: cannot record %s: %s", name, spec.kind, exc)
                return
        log.info("gpio %s: %s event %s", name, spec.kind, event_id)
        if self.on_event is not None:
            self.on_event(name, event_id)

    def _recheck_loop(self) -> None:
        while not self._stop.is_set():
            self.heartbeat.beat()
            with self._lock:
                if not self._due:
                    self._wake.wait(1.0)
                    continue
                due, name = self._due[0]
                delay = (due - time.monotonic_ns()) / 1e9
                if delay > 0:
                    self._wake.wait(min(delay, 1.0))  # and beat at least every second
                    continue
                heapq.heappop(self._due)
            self.evaluate(name)

    def levels(self) -> dict[str, bool]:
        """Live level of each input: True = active."""
        with self._lock:
            return {name: pin.is_active() for name, pin in self.pins.items()}

    def spec(self, name: str) -> GpioInput:
        if name not in self.specs or name not in self.pins:
            raise ConfigError(f"gpio.inputs: no input named {name!r}")
        return self.specs[name]

    def drive(self, name: str, active: bool) -> None:
        """Set a mock input's electrical level to active or inactive."""
        spec = self.spec(name)
        assert self.backend is not None
        self.backend.drive(spec.pin, active == spec.active_high)

    def pulse(self, name: str, seconds: float | None = None) -> None:
        """Drive a mock input active for a moment (at least its min pulse), then inactive."""
        spec = self.spec(name)
        hold = seconds if seconds is not None else max(PULSE_S, spec.min_pulse_ms / 1000 + 0.05)
        self.drive(name, True)
        self._stop.wait(hold)
        self.drive(name, False)

    def _simulate(self, name: str, every: float) -> None:
        while not self._stop.wait(every):
            try:
                self.pulse(name)
            except ReeferWatchError as exc:
                log.error("gpio simulation: %s", exc)
                return

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._stop.set()
            self._wake.notify_all()
        for thread in self._threads:
            thread.join(5)
        for pin in self.pins.values():
            pin.close()
        self.pins.clear()
        if self.backend is not None and self._own_backend:
            self.backend.close()
