"""Status LEDs: output pins of the ``[gpio] backend`` played by one small thread.

``Leds(pins, backend)`` opens one output per wired colour through ``edge.pins`` (a gpiozero
``DigitalOutputDevice`` — what ``LED`` is — on a Pi, MockFactory in tests, Jetson.GPIO on a
Jetson). ``show(pattern)`` hands the
player thread a new ``Pattern``; the thread sets the LEDs for a step and then waits on an
event for the step's duration (no busy loop), so a change of pattern takes effect at once
and all LEDs of a step switch together. ``walk()`` lights each LED alone once (for the
self-test). ``close()`` is idempotent, stops the thread and leaves every LED off.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Mapping

from edge.panel.patterns import COLOURS, OFF, WALK_S, Pattern, solid
from edge.pins import OutputPin, PinBackend
from wire.closing import Closeable
from wire.errors import ConfigError, ReeferWatchError

log = logging.getLogger(__name__)


class Leds(Closeable):
    """The wired status LEDs; a context manager."""

    def __init__(
        self, pins: Mapping[str, int], backend: PinBackend, active_high: bool = True
    ) -> None:
        unknown = set(pins) - set(COLOURS)
        if unknown:
            raise ConfigError(f"panel.leds: unknown colour(s) {sorted(unknown)}")
        self.leds: dict[str, OutputPin] = {}
        self._pattern = solid(OFF)
        self._changed = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._closed = False
        self._thread: threading.Thread | None = None
        try:
            for colour in COLOURS:
                if colour in pins:
                    self.leds[colour] = backend.open_output(pins[colour], active_high=active_high)
                    self.leds[colour].set(False)
        except (ReeferWatchError, OSError) as exc:
            self.close()
            raise ConfigError(f"panel.leds: cannot open the LEDs ({exc})") from exc

    @property
    def wired(self) -> frozenset[str]:
        return frozenset(self.leds)

    def start(self) -> None:
        if self._thread is None and self.leds and not self._closed:
            self._thread = threading.Thread(target=self._run, name="panel-leds", daemon=True)
            self._thread.start()

    def show(self, pattern: Pattern) -> None:
        """Play ``pattern`` from its first step, replacing whatever played before."""
        with self._lock:
            self._pattern = pattern
        self._changed.set()

    @property
    def pattern(self) -> Pattern:
        with self._lock:
            return self._pattern

    def walk(self) -> list[str]:
        """Light each LED alone for ``WALK_S`` (blocking; not while the player runs)."""
        walked = []
        for colour in COLOURS:
            if colour in self.leds and not self._stop.is_set():
                self._apply(frozenset({colour}))
                self._stop.wait(WALK_S)
                walked.append(colour)
        self._apply(OFF)
        return walked

    def _apply(self, lit: frozenset[str]) -> None:
        for colour, led in self.leds.items():
            led.set(colour in lit)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._changed.clear()
            self._play(self.pattern)
        self._apply(OFF)

    def _play(self, pattern: Pattern) -> None:
        """Play until the pattern changes or the LEDs close."""
        while True:
            for seconds, lit in pattern.steps:
                self._apply(lit)
                if self._changed.wait(None if math.isinf(seconds) else seconds):
                    return
            if not pattern.repeat:
                self._changed.wait()
                return

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._stop.set()
        self._changed.set()
        if self._thread is not None:
            self._thread.join(5)
        for led in self.leds.values():
            led.set(False)
            led.close()
        self.leds.clear()
