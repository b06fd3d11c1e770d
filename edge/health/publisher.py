"""Periodic ``up/health`` publishing for the sync client (QoS 1, not retained, no outbox).

Health is the liveness signal (central marks a box offline after three missed intervals), so
it never waits for the uplink's tokens; its bytes are charged to the bucket (``charge``) so the
long-run rate still keeps to the cap."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt

from wire import codec
from wire.errors import ReeferWatchError
from wire.models import HealthMessage

log = logging.getLogger(__name__)


class HealthPublisher:
    """Publishes ``build()`` on ``topic`` at most every ``period_s``; the first one at once."""

    def __init__(
        self,
        client: mqtt.Client,
        topic: str,
        build: Callable[[], HealthMessage],
        period_s: float,
        charge: Callable[[int], None] = lambda size: None,
    ) -> None:
        self.client = client
        self.charge = charge
        self.topic = topic
        self.build = build
        self.period_s = period_s
        self._next = 0.0
        self.published = 0

    def reset(self) -> None:
        """Publish at the next ``maybe_publish`` (e.g. right after a reconnect)."""
        self._next = 0.0

    def set_period(self, period_s: float) -> None:
        """A new interval (``config_refresh``); a shorter one also brings the next one forward."""
        self.period_s = period_s
        self._next = min(self._next, time.monotonic() + period_s)

    def maybe_publish(self) -> bool:
        if time.monotonic() < self._next:
            return False
        self._next = time.monotonic() + self.period_s
        try:
            message = self.build()
        except (ReeferWatchError, OSError, ValueError) as exc:
            log.error("health: cannot build the health message: %s", exc)
            return False
        payload = codec.encode(message)
        self.charge(len(payload))
        self.client.publish(self.topic, payload, qos=1, retain=False)
        self.published += 1
        return True
