"""The fault registry: active faults persisted in SQLite, every transition an event.

A fault is ``(scope, name)``: scope is a camera id or ``"device"``. ``raise_fault`` of a fault
that is already active does nothing (returns False); otherwise it records a ``camera_fault``
(camera scope) or ``device_fault`` (device scope) event with ``data={"fault": name, ...detail}``
and stores the fault. ``clear_fault`` of an active fault records ``fault_cleared`` (``camera`` =
the camera, or None for the device) and removes it. Events go through
``edge.events.record_event``, so each one is in the outbox. Active faults survive restarts.

The event is committed before the fault row: a crash between the two repeats an event on the
next transition (at-least-once), it never loses one.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from edge.events import record_event
from edge.store import Store
from edge.timeutil import iso, now, parse_iso
from wire.errors import WireError
from wire.topics import ID_PATTERN

log = logging.getLogger(__name__)

DEVICE = "device"
MAX_DETAIL_KEYS = 32


@dataclass(frozen=True)
class Fault:
    scope: str
    name: str
    detail: dict[str, Any]
    raised_at: datetime
    event_id: str | None

    @property
    def camera(self) -> str | None:
        return None if self.scope == DEVICE else self.scope


def _check(scope: str, name: str) -> None:
    if scope != DEVICE and not ID_PATTERN.match(scope):
        raise WireError(f"scope: {scope!r} is neither 'device' nor a camera id")
    if not ID_PATTERN.match(name):
        raise WireError(f"fault name: {name!r} is not an id of 1-64 characters [A-Za-z0-9_-]")


def _scalar_detail(detail: dict[str, Any] | None) -> dict[str, Any]:
    """Event data holds scalars only: round floats, stringify anything else."""
    out: dict[str, Any] = {}
    for key, value in list((detail or {}).items())[:MAX_DETAIL_KEYS]:
        if key == "fault":
            continue
        if isinstance(value, float):
            out[str(key)[:64]] = round(value, 3)
        elif value is None or isinstance(value, (str, int, bool)):
            out[str(key)[:64]] = value
        else:
            out[str(key)[:64]] = str(value)
    return out


class Faults:
    """Thread-safe fault registry over a ``Store``; instances share one process-wide lock,
    so the recorder, health and retention may each hold their own without double events."""

    _lock = threading.Lock()

    def __init__(self, store: Store) -> None:
        self.store = store

    def raise_fault(self, scope: str, name: str, detail: dict[str, Any] | None = None) -> bool:
        """Raise ``name`` in ``scope``; True if it was new (and an event was recorded)."""
        _check(scope, name)
        data = _scalar_detail(detail)
        with self._lock:
            if self.is_active(scope, name):
                return False
            kind = "device_fault" if scope == DEVICE else "camera_fault"
            event_id = record_event(
                self.store,
                kind,
                camera=None if scope == DEVICE else scope,
                source="health",
                data={"fault": name, **data},
            )
            moment = now()
            with self.store.transaction() as db:
                db.execute(
                    "INSERT OR REPLACE INTO faults "
                    "(scope, name, detail, raised_at, raised_ts, event_id) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        scope,
                        name,
                        json.dumps(data, sort_keys=True),
                        iso(moment),
                        moment.timestamp(),
                        event_id,
                    ),
                )
        log.warning("fault raised: %s %s %s", scope, name, data)
        return True

    def clear_fault(self, scope: str, name: str, detail: dict[str, Any] | None = None) -> bool:
        """Clear ``name`` in ``scope``; True if it was active (and an event was recorded)."""
        _check(scope, name)
        with self._lock:
            if not self.is_active(scope, name):
                return False
            record_event(
                self.store,
                "fault_cleared",
                camera=None if scope == DEVICE else scope,
                source="health",
                data={"fault": name, "scope": scope, **_scalar_detail(detail)},
            )
            with self.store.transaction() as db:
                db.execute("DELETE FROM faults WHERE scope = ? AND name = ?", (scope, name))
        log.info("fault cleared: %s %s", scope, name)
        return True

    def set_fault(
        self, scope: str, name: str, active: bool, detail: dict[str, Any] | None = None
    ) -> bool:
        """Raise or clear to match ``active``; True if that changed anything."""
        if active:
            return self.raise_fault(scope, name, detail)
        return self.clear_fault(scope, name, detail)

    def is_active(self, scope: str, name: str) -> bool:
        rows = self.store.query("SELECT 1 FROM faults WHERE scope = ? AND name = ?", (scope, name))
        return bool(rows)

    def active(self, scope: str | None = None) -> list[Fault]:
        """Active faults (of one scope, or all), oldest first."""
        if scope is None:
            rows = self.store.query("SELECT * FROM faults ORDER BY raised_ts, scope, name")
        else:
            rows = self.store.query(
                "SELECT * FROM faults WHERE scope = ? ORDER BY raised_ts, name", (scope,)
            )
        return [
            Fault(
                scope=r["scope"],
                name=r["name"],
                detail=json.loads(r["detail"] or "{}"),
                raised_at=parse_iso(r["raised_at"]),
                event_id=r["event_id"],
            )
            for r in rows
        ]
