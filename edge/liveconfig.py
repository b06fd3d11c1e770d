"""``config_refresh``: re-read the edge's TOML file and apply what can change while running.

Applied live: ``[uplink] kbps`` and ``[[uplink.schedule]]`` (the sync client's token bucket) and
``[health] publish_seconds``. Every other changed key is reported as needing a restart and
is not applied. A file that does not validate changes nothing: the ``ConfigError`` (naming the
file and the key) is the answer.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from edge.config import EdgeConfig, load_config
from edge.uplink import schedule_of
from wire.errors import ConfigError

if TYPE_CHECKING:
    from edge.health.publisher import HealthPublisher
    from edge.uplink import TokenBucket

log = logging.getLogger(__name__)

LIVE_KEYS = ("uplink.kbps", "uplink.schedule", "health.publish_seconds")


class LiveTargets(Protocol):
    """What a refresh changes in the running process (the sync client has both)."""

    @property
    def uplink(self) -> TokenBucket: ...

    @property
    def health(self) -> HealthPublisher: ...


def changed_keys(old: EdgeConfig, new: EdgeConfig) -> list[str]:
    """Dotted keys whose values differ: ``section.key`` inside tables, else the top key."""
    a, b = old.model_dump(mode="json"), new.model_dump(mode="json")
    keys: list[str] = []
    for section in [*a, *(k for k in b if k not in a)]:
        x, y = a.get(section), b.get(section)
        if isinstance(x, dict) and isinstance(y, dict):
            subkeys = [*x, *(k for k in y if k not in x)]
            keys += [f"{section}.{k}" for k in subkeys if x.get(k) != y.get(k)]
        elif x != y:
            keys.append(section)
    return keys


class LiveConfig:
    """The configuration the process runs with, refreshed from its file on request."""

    def __init__(self, config: EdgeConfig, targets: LiveTargets | None = None) -> None:
        self.running = config
        self.targets = targets
        self._lock = threading.Lock()

    def refresh(self) -> tuple[str, dict[str, Any]]:
        """Re-read the file, apply the live keys; return (detail, data) for the answer.

        Raises ``ConfigError`` (nothing applied) if the file is missing or invalid."""
        path = self.running.source_path
        if path is None:
            raise ConfigError("this edge was not started from a configuration file")
        with self._lock:
            new = load_config(path)
            changed = changed_keys(self.running, new)
            live = [k for k in changed if k in LIVE_KEYS and self.targets is not None]
            restart = [k for k in changed if k not in live]
            if live:
                self._apply(new)
        detail = _describe(path, live, restart)
        log.info("config refresh: %s", detail)
        return detail, {
            "file": str(path),
            "applied": ",".join(live),
            "restart": ",".join(restart),
        }

    def _apply(self, new: EdgeConfig) -> None:
        assert self.targets is not None
        running = self.running
        if new.uplink != running.uplink:
            self.targets.uplink.set_rate(new.uplink.kbps, schedule_of(new.uplink))
        period = new.health.publish_seconds
        if period != running.health.publish_seconds:
            self.targets.health.set_period(period)
        health = running.health.model_copy(update={"publish_seconds": period})
        self.running = running.model_copy(update={"uplink": new.uplink, "health": health})


def _describe(path: Path, live: list[str], restart: list[str]) -> str:
    if not live and not restart:
        return f"{path}: no change"
    parts = []
    if live:
        parts.append(f"applied live: {', '.join(live)}")
    if restart:
        parts.append(f"needs a restart: {', '.join(restart)}")
    return f"{path}: {'; '.join(parts)}"
