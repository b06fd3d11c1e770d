"""The pin interface shared by every backend (gpiozero, gpiozero mock, Jetson.GPIO)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol

Pull = Literal["up", "down", "none"]
# Called on every edge with whether the input was active at that edge (None: unknown —
# the receiver then reads the level itself, which a late callback may find changed).
ChangeCallback = Callable[[bool | None], None]


class InputPin(Protocol):
    """An input; ``on_change`` is called (from a backend thread) after any edge."""

    pin: int

    def is_active(self) -> bool:
        """The current level as seen by the input's ``active_high`` setting."""

    def close(self) -> None: ...


class OutputPin(Protocol):
    pin: int

    def set(self, on: bool) -> None: ...

    def close(self) -> None: ...


class PinBackend(Protocol):
    """Opens pins; ``close()`` releases every pin it opened (idempotent)."""

    name: str

    def open_input(
        self,
        pin: int,
        *,
        pull: Pull,
        active_high: bool,
        bounce_ms: int,
        on_change: ChangeCallback | None,
    ) -> InputPin: ...

    def open_output(self, pin: int, *, active_high: bool = True) -> OutputPin: ...

    def drive(self, pin: int, high: bool) -> None:
        """Drive an input's electrical level (mock backend only; tests and the demo)."""

    def close(self) -> None: ...
