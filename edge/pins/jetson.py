"""Jetson backend: ``Jetson.GPIO`` (the RPi.GPIO-style library NVIDIA ships) behind ``PinBackend``.

gpiozero refuses non-Pi boards, so a Jetson uses this adapter. ``numbering`` is ``"bcm"``
(the same numbers as on a Pi: Jetson.GPIO maps them onto the 40-pin header) or ``"board"``
(physical header pin numbers). Edges come from ``add_event_detect(BOTH)`` with the input's
debounce as ``bouncetime``; edge.gpio re-reads the level after each edge and when the
debounce window ends, so an edge the library suppresses is never lost. ``gpio`` may be a
stand-in module object (tests); by default ``Jetson.GPIO`` is imported here, lazily.
"""

from __future__ import annotations

import threading
from typing import Any

from edge.pins.base import ChangeCallback, Pull
from wire.errors import ConfigError


class JetsonInput:
    def __init__(self, gpio: Any, pin: int, active_high: bool, on_change: ChangeCallback | None):
        self.gpio = gpio
        self.pin = pin
        self.active_high = active_high
        self._on_change = on_change

    def fire(self, channel: int) -> None:
        if self._on_change is not None:
            self._on_change(None)  # Jetson.GPIO does not report the level of the edge

    def is_active(self) -> bool:
        return bool(self.gpio.input(self.pin)) == self.active_high

    def close(self) -> None:
        self._on_change = None
        self.gpio.remove_event_detect(self.pin)
        self.gpio.cleanup(self.pin)


class JetsonOutput:
    def __init__(self, gpio: Any, pin: int, active_high: bool) -> None:
        self.gpio = gpio
        self.pin = pin
        self.active_high = active_high

    def set(self, on: bool) -> None:
        self.gpio.output(self.pin, self.gpio.HIGH if on == self.active_high else self.gpio.LOW)

    def close(self) -> None:
        self.gpio.cleanup(self.pin)


class JetsonBackend:
    """Pins through ``Jetson.GPIO``; ``close()`` cleans up every pin it set up."""

    name = "jetson"

    def __init__(self, numbering: str = "bcm", gpio: Any = None) -> None:
        if gpio is None:
            try:
                import Jetson.GPIO as jetson_gpio
            except (ImportError, RuntimeError, OSError) as exc:
                raise ConfigError(
                    f"gpio.backend: cannot use Jetson.GPIO ({exc}); is this a Jetson with "
                    "`pip install reeferwatch[jetson]`?"
                ) from exc
            gpio = jetson_gpio
        self.gpio = gpio
        self._lock = threading.Lock()
        self._opened: list[JetsonInput | JetsonOutput] = []
        self._closed = False
        self.gpio.setwarnings(False)
        self.gpio.setmode(self.gpio.BOARD if numbering == "board" else self.gpio.BCM)

    def _pull(self, pull: Pull) -> Any:
        return {"up": self.gpio.PUD_UP, "down": self.gpio.PUD_DOWN, "none": self.gpio.PUD_OFF}[pull]

    def open_input(
        self,
        pin: int,
        *,
        pull: Pull,
        active_high: bool,
        bounce_ms: int,
        on_change: ChangeCallback | None,
    ) -> JetsonInput:
        opened = JetsonInput(self.gpio, pin, active_high, on_change)
        try:
            self.gpio.setup(pin, self.gpio.IN, pull_up_down=self._pull(pull))
            if on_change is not None:
                self.gpio.add_event_detect(
                    pin, self.gpio.BOTH, callback=opened.fire, bouncetime=bounce_ms or None
                )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ConfigError(f"gpio: cannot open Jetson pin {pin} as input ({exc})") from exc
        with self._lock:
            self._opened.append(opened)
        return opened

    def open_output(self, pin: int, *, active_high: bool = True) -> JetsonOutput:
        initial = self.gpio.LOW if active_high else self.gpio.HIGH
        try:
            self.gpio.setup(pin, self.gpio.OUT, initial=initial)
        except (ValueError, RuntimeError, OSError) as exc:
            raise ConfigError(f"gpio: cannot open Jetson pin {pin} as output ({exc})") from exc
        opened = JetsonOutput(self.gpio, pin, active_high)
        with self._lock:
            self._opened.append(opened)
        return opened

    def drive(self, pin: int, high: bool) -> None:
        raise ConfigError("gpio: Jetson pins cannot be driven from software (mock only)")

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            opened, self._opened = self._opened, []
        for pin in opened:
            pin.close()
