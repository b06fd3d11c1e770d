"""The panel of the ``run`` process: sources → state → LEDs, buttons → actions.

``Panel(config, sources, actions, backend)`` opens the wired LEDs and buttons on the pin
backend of ``[gpio]`` (shared with the inputs; the panel does not close it). Its thread
samples ``PanelSources`` every ``refresh_seconds`` (and at once after a press), computes the
display state (``edge.panel.state``) and hands the LEDs a new pattern only when the state
changes. The panel never imports the modules behind its actions: ``run`` passes plain
callables (``PanelActions``). A press is acknowledged (state ``ack``) for ``ack_seconds``;
a hold starts the self-test in a thread of its own, shown as the LED walk while it runs.
The panel thread beats a ``Heartbeat`` (``edge.liveness``) on every refresh.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from edge.config import PanelConfig
from edge.liveness import Heartbeat
from edge.panel.buttons import Buttons
from edge.panel.leds import Leds
from edge.panel.patterns import WALK_S, render
from edge.panel.state import PanelInputs, State, compute_state
from edge.pins import PinBackend
from wire.closing import Closeable
from wire.errors import ReeferWatchError

log = logging.getLogger(__name__)

STALL_S = 60.0  # the panel refreshes at least every 5 s


@dataclass
class PanelSources:
    """What the display depends on; each is called from the panel thread."""

    recording: Callable[[], Mapping[str, bool]] = dict
    backlog: Callable[[], tuple[int, int]] = lambda: (0, 0)
    connected: Callable[[], bool] = lambda: True
    faults: Callable[[], list[tuple[str, str]]] = list
    loading: Callable[[], bool] = lambda: False


@dataclass
class PanelActions:
    """What the buttons do; ``None`` = the press is acknowledged and logged, nothing else."""

    on_loading_toggle: Callable[[], object] | None = None
    on_mark: Callable[[], object] | None = None
    on_selftest: Callable[[], object] | None = None


class Panel(Closeable):
    """LEDs + buttons + the panel thread; ``close()`` is idempotent; a context manager."""

    def __init__(
        self,
        config: PanelConfig,
        sources: PanelSources,
        actions: PanelActions,
        backend: PinBackend,
    ) -> None:
        self.config = config
        self.sources = sources
        self.actions = actions
        self.state: State | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._ack_until = 0.0
        self._walk_until = 0.0
        self._selftest_thread: threading.Thread | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._started = time.monotonic()
        self._start_done = False
        self._offline_since: float | None = self._started
        self.heartbeat = Heartbeat("panel", STALL_S)
        self.leds = Leds(config.leds.wired(), backend, config.leds.active_high)
        factory: Any = getattr(backend, "factory", None)  # gpiozero backends only
        buttons = config.buttons.wired()
        if buttons and factory is None:
            log.warning("panel: buttons need a gpiozero pin backend; %s has none", backend.name)
            buttons = {}
        try:
            self.buttons = Buttons(
                buttons,
                factory,
                {"loading": self._press_loading, "mark": self._press_mark},
                on_hold=self.start_selftest,
                hold_seconds=config.buttons.hold_seconds,
                bounce_seconds=config.buttons.bounce_seconds,
            )
        except ReeferWatchError:
            self.leds.close()
            raise

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        self.leds.start()
        self._thread = threading.Thread(target=self._run, name="panel", daemon=True)
        self.heartbeat.attach(self._thread)
        self._thread.start()
        log.info(
            "panel: LEDs %s, buttons %s",
            ", ".join(sorted(self.leds.wired)) or "none",
            ", ".join(sorted(self.config.buttons.wired())) or "none",
        )

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._stop.set()
        self._wake.set()
        self.buttons.close()
        if self._thread is not None:
            self._thread.join(5)
        if self._selftest_thread is not None:
            self._selftest_thread.join(5)
        self.leds.close()

    def heartbeats(self) -> list[Heartbeat]:
        return [self.heartbeat]

    # -- presses ---------------------------------------------------------------------
    def acknowledge(self) -> None:
        """Show ``ack`` for ``ack_seconds`` from now."""
        with self._lock:
            self._ack_until = time.monotonic() + self.config.ack_seconds
        self._wake.set()

    def _press_loading(self) -> None:
        self.acknowledge()
        if self.actions.on_loading_toggle is not None:
            result = self.actions.on_loading_toggle()
            log.info("panel: loading session %s", result)

    def _press_mark(self) -> None:
        self.acknowledge()
        if self.actions.on_mark is not None:
            self.actions.on_mark()

    @property
    def selftest_running(self) -> bool:
        thread = self._selftest_thread
        return thread is not None and thread.is_alive()

    def start_selftest(self) -> bool:
        """Run ``on_selftest`` in its own thread; False if one is running already."""
        with self._lock:
            if self.selftest_running or self._closed:
                return False
            self._selftest_thread = threading.Thread(
                target=self._selftest, name="panel-selftest", daemon=True
            )
            self._selftest_thread.start()
        self._wake.set()
        return True

    def _selftest(self) -> None:
        try:
            if self.actions.on_selftest is not None:
                result = self.actions.on_selftest()
                log.info("panel: self-test finished: %s", result)
            else:
                self.led_walk()
        except (ReeferWatchError, OSError) as exc:
            log.error("panel: self-test failed: %s", exc)
        finally:
            self._wake.set()

    def led_walk(self) -> None:
        """Show the self-test walk twice over every wired LED (blocking)."""
        seconds = 2 * WALK_S * max(2, len(self.leds.wired))
        with self._lock:
            self._walk_until = time.monotonic() + seconds
        self._wake.set()
        self._stop.wait(seconds)

    # -- the panel thread ------------------------------------------------------------
    def sample(self) -> PanelInputs:
        """Read every source once."""
        moment = time.monotonic()
        recording = dict(self.sources.recording())
        connected = bool(self.sources.connected())
        if connected:
            self._offline_since = None
        elif self._offline_since is None:
            self._offline_since = moment
        if not self._start_done and all(recording.values()) and connected:
            self._start_done = True
        starting = not self._start_done and moment - self._started < self.config.starting_seconds
        items, size = self.sources.backlog()
        with self._lock:
            ack = moment < self._ack_until
            walking = moment < self._walk_until
        return PanelInputs(
            starting=starting,
            recording=recording,
            backlog_items=items,
            backlog_bytes=size,
            connected=connected,
            offline_seconds=0.0 if self._offline_since is None else moment - self._offline_since,
            faults=tuple(self.sources.faults()),
            loading=bool(self.sources.loading()),
            ack=ack,
            selftest=walking or self.selftest_running,
        )

    def refresh(self) -> State:
        """Sample, compute, and drive the LEDs if the state changed; the state shown."""
        state = compute_state(self.sample(), self.config.broker_alarm_minutes * 60)
        if state is not self.state:
            log.info("panel: %s", state.value)
            self.state = state
            self.leds.show(render(state, self.leds.wired))
        return state

    def _run(self) -> None:
        while not self._stop.is_set():
            self.heartbeat.beat()
            self._wake.clear()
            try:
                self.refresh()
            except (ReeferWatchError, OSError) as exc:
                log.error("panel: cannot read the state: %s", exc)
            self._wake.wait(self._next_wait())

    def _next_wait(self) -> float:
        """The refresh interval, shortened so an ack or walk ends on time."""
        wait = self.config.refresh_seconds
        moment = time.monotonic()
        with self._lock:
            for until in (self._ack_until, self._walk_until):
                if until > moment:
                    wait = min(wait, until - moment + 0.01)
        return wait
