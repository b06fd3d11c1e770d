"""The "not provisioned" LED code, shown while no edge runs (``provision --signal``).

Red, one blink and a pause (``docs/panel.md``), on the fallback colours of ``edge.panel.patterns``
when red is not wired. The pins come from the ``[panel]`` and ``[gpio]`` tables of the first
configuration at hand that names LEDs — the bundle's ``site.toml`` or ``edge.toml`` (even when the
rest of the bundle is refused), else an installed ``edge.toml`` — so a box whose bundle was
refused still shows its code. With no LEDs known nothing is shown and the log says so.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from pydantic import ValidationError

from edge.config import GpioConfig, PanelConfig
from edge.panel.leds import Leds
from edge.panel.patterns import FAULT_PREF, Pattern, code, pick
from edge.pins import PinBackend, open_backend
from wire.closing import Closeable
from wire.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

log = logging.getLogger(__name__)

NOT_PROVISIONED_BLINKS = 1  # fewer blinks = more severe: nothing is recorded at all


def pattern(wired: frozenset[str]) -> Pattern:
    return code(pick(FAULT_PREF, wired), NOT_PROVISIONED_BLINKS)


def panel_settings(sources: list[Path]) -> tuple[PanelConfig, GpioConfig, Path] | None:
    """The panel and pin backend of the first file in ``sources`` that wires LEDs."""
    for path in sources:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            panel = PanelConfig.model_validate(data.get("panel", {}))
            gpio = data.get("gpio", {})
            backend = GpioConfig.model_validate(
                {k: gpio[k] for k in ("backend", "numbering") if k in gpio}
            )
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, ValidationError) as exc:
            log.warning("panel notice: %s: no usable [panel]/[gpio] (%s)", path, exc)
            continue
        if panel.leds.wired():
            return panel, backend, path
    return None


class Notice(Closeable):
    """The LEDs showing the code, and the pin backend if the notice opened it."""

    def __init__(self, leds: Leds, own_backend: PinBackend | None) -> None:
        self.leds = leds
        self.own_backend = own_backend

    def close(self) -> None:
        self.leds.close()  # idempotent; leaves every LED off
        if self.own_backend is not None:
            self.own_backend.close()
            self.own_backend = None


def open_notice(sources: list[Path], backend: PinBackend | None = None) -> Notice | None:
    """Start showing "not provisioned"; the caller closes the notice (None: no LEDs known)."""
    settings = panel_settings(sources)
    if settings is None:
        log.info(
            "panel notice: no [panel.leds] in %s; nothing to show", ", ".join(map(str, sources))
        )
        return None
    panel, gpio, path = settings
    own = open_backend(gpio.backend, gpio.numbering) if backend is None else None
    pins = backend if backend is not None else own
    assert pins is not None
    try:
        leds = Leds(panel.leds.wired(), pins, panel.leds.active_high)
    except ConfigError:
        if own is not None:
            own.close()
        raise
    leds.show(pattern(leds.wired))
    leds.start()
    log.info(
        "panel notice: showing 'not provisioned' (%d blink) on %s (pins from %s)",
        NOT_PROVISIONED_BLINKS,
        ", ".join(sorted(leds.wired)),
        path,
    )
    return Notice(leds, own)
