"""gpiozero backend: the board's native factory (lgpio on a Pi 5) or ``MockFactory``.

Inputs are opened at the pin level (``factory.pin(n)``) so pull and active level are
independent; debouncing is done by ``edge.gpio`` in software for every backend alike.
"""

from __future__ import annotations

import threading
from typing import Any

from edge.pins.base import ChangeCallback, Pull
from wire.errors import ConfigError

_PULL = {"up": "up", "down": "down", "none": "floating"}


class GpiozeroInput:
    def __init__(
        self, device: Any, pin: int, active_high: bool, on_change: ChangeCallback | None
    ) -> None:
        self.device = device
        self.pin = pin
        self.active_high = active_high
        self._on_change = on_change
        if on_change is not None:
            device.when_changed = self._fire  # gpiozero keeps only a weak reference

    def _fire(self, ticks: Any, state: Any) -> None:
        if self._on_change is not None:
            self._on_change(bool(state) == self.active_high)  # the level at the edge

    def is_active(self) -> bool:
        return bool(self.device.state) == self.active_high

    def close(self) -> None:
        self.device.when_changed = None
        self.device.close()


class GpiozeroOutput:
    def __init__(self, device: Any, pin: int) -> None:
        self.device = device
        self.pin = pin

    def set(self, on: bool) -> None:
        self.device.value = on

    def close(self) -> None:
        self.device.close()


class GpiozeroBackend:
    """``mock=True``: gpiozero's ``MockFactory``; else the board's default factory."""

    def __init__(self, mock: bool) -> None:
        self.name = "mock" if mock else "native"
        self._lock = threading.Lock()
        self._opened: list[Any] = []
        self._closed = False
        from gpiozero.exc import GPIOZeroError

        try:
            if mock:
                from gpiozero.pins.mock import MockFactory

                self.factory: Any = MockFactory()
            else:
                from gpiozero import Device
                from gpiozero.devices import _default_pin_factory

                self.factory = Device.pin_factory or _default_pin_factory()
        except (ImportError, OSError, GPIOZeroError) as exc:
            raise ConfigError(f"gpio.backend: cannot open {self.name} pins ({exc})") from exc

    def open_input(
        self,
        pin: int,
        *,
        pull: Pull,
        active_high: bool,
        bounce_ms: int,
        on_change: ChangeCallback | None,
    ) -> GpiozeroInput:
        from gpiozero.exc import GPIOZeroError

        try:
            device = self.factory.pin(pin)
            device.function = "input"
            device.pull = _PULL[pull]
            device.bounce = None  # debounced in software by edge.gpio
            device.edges = "both"
            opened = GpiozeroInput(device, pin, active_high, on_change)
        except (GPIOZeroError, OSError) as exc:
            raise ConfigError(f"gpio: cannot open pin {pin} as input ({exc})") from exc
        with self._lock:
            self._opened.append(device)
        return opened

    def open_output(self, pin: int, *, active_high: bool = True) -> GpiozeroOutput:
        from gpiozero import DigitalOutputDevice
        from gpiozero.exc import GPIOZeroError

        try:
            device = DigitalOutputDevice(pin, active_high=active_high, pin_factory=self.factory)
        except (GPIOZeroError, OSError) as exc:
            raise ConfigError(f"gpio: cannot open pin {pin} as output ({exc})") from exc
        with self._lock:
            self._opened.append(device)
        return GpiozeroOutput(device, pin)

    def drive(self, pin: int, high: bool) -> None:
        if self.name != "mock":
            raise ConfigError("gpio: only mock pins can be driven")
        device = self.factory.pin(pin)
        if high:
            device.drive_high()
        else:
            device.drive_low()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            opened, self._opened = self._opened, []
        for device in opened:
            device.close()
        self.factory.close()
