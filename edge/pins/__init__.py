"""Pin backends: one small interface for the GPIO pins the edge uses.

``open_backend(config)`` returns a ``PinBackend``: ``"mock"`` (gpiozero ``MockFactory``: tests
and the demo), ``"native"`` (gpiozero's board factory: lgpio on a Pi 5) or ``"jetson"``
(``Jetson.GPIO``; gpiozero refuses non-Pi boards). Libraries are imported lazily.
"""

from __future__ import annotations

from edge.pins.base import InputPin, OutputPin, PinBackend, Pull

__all__ = ["InputPin", "OutputPin", "PinBackend", "Pull", "open_backend"]


def open_backend(backend: str, numbering: str = "bcm") -> PinBackend:
    """The backend named in ``[gpio] backend``; ``ConfigError`` if it cannot be opened."""
    if backend == "jetson":
        from edge.pins.jetson import JetsonBackend

        return JetsonBackend(numbering=numbering)
    from edge.pins.gpiozero_backend import GpiozeroBackend

    return GpiozeroBackend(mock=backend == "mock")
