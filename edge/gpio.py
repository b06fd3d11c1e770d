"""GPIO inputs → events through gpiozero; the mock-pin simulation the demo uses.

``backend = "mock"`` uses gpiozero's ``MockFactory`` (tests, demo, CI); ``"native"`` lets
gpiozero pick the board's factory (lgpio on a Pi 5). Each configured input becomes a
``DigitalInputDevice``; activation records an event of the input's kind with
``source`` = the input name. ``[simulation]`` pulses one mock input every N seconds.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

from edge.config import GpioConfig, GpioInput
from edge.events import record_event
from edge.store import Store
from wire.errors import ConfigError, ReeferWatchError

log = logging.getLogger(__name__)

PULSE_S = 0.2


def make_factory(backend: str) -> Any:
    if backend == "mock":
        from gpiozero.pins.mock import MockFactory

        return MockFactory()
    return None  # gpiozero chooses the native factory of the board


class GpioInputs:
    """The configured inputs; ``close()`` is idempotent; a context manager."""

    def __init__(
        self,
        config: GpioConfig,
        store: Store,
        on_event: Callable[[str, str], None] | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.on_event = on_event
        self.factory: Any = None
        self.devices: dict[str, Any] = {}
        self._stop = threading.Event()
        self._sim_thread: threading.Thread | None = None
        self._closed = False

    def start(self) -> None:
        from gpiozero import DigitalInputDevice
        from gpiozero.exc import GPIOZeroError

        try:
            self.factory = make_factory(self.config.backend)
            for spec in self.config.inputs:
                device = DigitalInputDevice(
                    spec.pin, pull_up=not spec.active_high, pin_factory=self.factory
                )
                device.when_activated = self._handler(spec)
                self.devices[spec.name] = device
        except (GPIOZeroError, OSError, ImportError) as exc:
            self.close()
            raise ConfigError(f"gpio: cannot open inputs ({exc})") from exc
        sim = self.config.simulation
        if sim is not None:
            self._sim_thread = threading.Thread(
                target=self._simulate, args=(sim.pulse_input, sim.every_seconds),
                name="gpio-simulation", daemon=True,
            )  # fmt: skip
            self._sim_thread.start()

    def _handler(self, spec: GpioInput) -> Callable[[], None]:
        def activated() -> None:
            try:
                event_id = record_event(self.store, spec.kind, source=spec.name)
            except ReeferWatchError as exc:
                log.error("gpio %s: cannot record %s: %s", spec.name, spec.kind, exc)
                return
            log.info("gpio %s: %s event %s", spec.name, spec.kind, event_id)
            if self.on_event is not None:
                self.on_event(spec.name, event_id)

        return activated

    def pulse(self, name: str) -> None:
        """Drive a mock input active for a moment, then inactive again."""
        spec = next((i for i in self.config.inputs if i.name == name), None)
        if spec is None or name not in self.devices:
            raise ConfigError(f"gpio.inputs: no input named {name!r}")
        pin = self.devices[name].pin
        if spec.active_high:
            pin.drive_high()
            self._stop.wait(PULSE_S)
            pin.drive_low()
        else:
            pin.drive_low()
            self._stop.wait(PULSE_S)
            pin.drive_high()

    def _simulate(self, name: str, every: float) -> None:
        while not self._stop.wait(every):
            self.pulse(name)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._sim_thread is not None:
            self._sim_thread.join(5)
        for device in self.devices.values():
            device.close()
        self.devices.clear()
        if self.factory is not None:
            self.factory.close()
            self.factory = None

    def __enter__(self) -> GpioInputs:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
