"""Panel buttons: gpiozero ``Button`` objects to GND with the internal pull-up.

A short press (released before ``hold_seconds``) runs the button's action; a hold of
``hold_seconds`` runs ``on_hold`` (the self-test) instead — the release that ends a hold
never also runs the short action. Actions run in gpiozero's callback thread, so they must
be quick (the panel hands the self-test to a thread of its own). An action that fails with
a ``ReeferWatchError`` or ``OSError`` is logged; the button stays usable.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from wire.closing import Closeable
from wire.errors import ConfigError, ReeferWatchError

log = logging.getLogger(__name__)

Action = Callable[[], object]


class Buttons(Closeable):
    """``pins``: button name → pin; ``actions``: name → short-press action; a context manager."""

    def __init__(
        self,
        pins: Mapping[str, int],
        factory: Any,
        actions: Mapping[str, Action],
        on_hold: Action,
        hold_seconds: float = 5.0,
        bounce_seconds: float = 0.05,
    ) -> None:
        from gpiozero import Button
        from gpiozero.exc import GPIOZeroError

        self.actions = dict(actions)
        self.on_hold = on_hold
        self.buttons: dict[str, Any] = {}
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._closed = False
        try:
            for name, pin in pins.items():
                button = Button(
                    pin,
                    pull_up=True,
                    bounce_time=bounce_seconds or None,
                    hold_time=hold_seconds,
                    pin_factory=factory,
                )
                button.when_held = self._held_handler(name)
                button.when_released = self._released_handler(name)
                self.buttons[name] = button
        except (GPIOZeroError, OSError) as exc:
            self.close()
            raise ConfigError(f"panel.buttons: cannot open the buttons ({exc})") from exc

    def _held_handler(self, name: str) -> Callable[[], None]:
        def held() -> None:
            with self._lock:
                self._held.add(name)
            log.info("panel: %s button held: self-test", name)
            self._call(f"{name} hold", self.on_hold)

        return held

    def _released_handler(self, name: str) -> Callable[[], None]:
        def released() -> None:
            with self._lock:
                was_held = name in self._held
                self._held.discard(name)
            if was_held:
                return
            action = self.actions.get(name)
            if action is not None:
                log.info("panel: %s button pressed", name)
                self._call(name, action)

        return released

    @staticmethod
    def _call(what: str, action: Action) -> None:
        try:
            action()
        except (ReeferWatchError, OSError) as exc:
            log.error("panel: %s failed: %s", what, exc)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for button in self.buttons.values():
            button.close()
        self.buttons.clear()
