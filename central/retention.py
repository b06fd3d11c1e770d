"""Clip retention (regulation Art. 18–19): retention classes, how long each is kept, and the
legal hold. ``central.retention_sweep`` deletes what has expired.

Every clip has a class:

- ``anomaly``: the clip backs an anomaly event (``metal_detector_reject``, ``seal_broken``) or a
  fault (``camera_fault``, ``device_fault``, ``fault_cleared``): Art. 18 asks to keep that video,
  Art. 19 to keep it apart;
- ``standard``: every other clip (loading sessions, other event clips, uploaded windows);
- ``evidence``: raised by an admin (``PUT /clips/{id}/retention``), e.g. for a case.

A clip is kept until ``retain_until`` = its arrival at central + its class's period
(``REEFERWATCH_RETENTION_*_DAYS``; null: for good). An admin may raise a clip's class, or lower
an ``evidence`` clip again, never below the class its events give it. A clip on legal hold
(``hold``) is never deleted, whatever its ``retain_until``.

An anomaly event may arrive after its clip: ``classify`` sees only the events central has.
The sweep therefore re-classifies before it deletes (see ``central.retention_sweep``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Literal

from pydantic import ValidationError
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from central import audit
from central.db.models import Clip, Event
from central.db.types import utcnow
from central.settings import RetentionSettings
from wire.errors import ConfigError, ReeferWatchError

RetentionClass = Literal["standard", "anomaly", "evidence"]
RETENTION_CLASSES: tuple[RetentionClass, ...] = ("standard", "anomaly", "evidence")  # ascending
ANOMALY_KINDS = frozenset({"metal_detector_reject", "seal_broken"})
FAULT_KINDS = frozenset({"camera_fault", "device_fault", "fault_cleared"})
KEEP_KINDS = ANOMALY_KINDS | FAULT_KINDS  # events whose clips are "anomaly"
MAX_REASON_CHARS = 500


class RetentionConflict(ReeferWatchError, ValueError):
    """A retention change that the clip's state does not allow (the message says why)."""


@dataclass(frozen=True)
class Periods:
    """Days each class is kept after arrival; 0: for good."""

    standard_days: int = 180
    anomaly_days: int = 1096
    evidence_days: int = 0

    @classmethod
    def of(cls, settings: RetentionSettings) -> Periods:
        return cls(
            standard_days=settings.retention_standard_days,
            anomaly_days=settings.retention_anomaly_days,
            evidence_days=settings.retention_evidence_days,
        )

    def days(self, retention_class: str) -> int:
        if retention_class == "standard":
            return self.standard_days
        if retention_class == "anomaly":
            return self.anomaly_days
        if retention_class == "evidence":
            return self.evidence_days
        raise RetentionConflict(
            f"retention class {retention_class!r} is not one of {', '.join(RETENTION_CLASSES)}"
        )

    def finite(self) -> list[str]:
        """The classes that expire at all."""
        return [c for c in RETENTION_CLASSES if self.days(c) > 0]


@lru_cache(maxsize=1)
def configured_periods() -> Periods:
    """The periods from the environment (``REEFERWATCH_RETENTION_*_DAYS``), read once per
    process: for code that has no ``Settings`` at hand (ingest)."""
    try:
        return Periods.of(RetentionSettings())
    except ValidationError as exc:
        raise ConfigError(f"retention settings: {exc}") from exc


def rank(retention_class: str) -> int:
    """Position of a class from shortest- to longest-lived."""
    if retention_class not in RETENTION_CLASSES:
        raise RetentionConflict(f"retention class {retention_class!r} is unknown")
    return RETENTION_CLASSES.index(retention_class)


def classify(session: Session, clip_kind: str, event_ids: Iterable[str]) -> RetentionClass:
    """The class a clip gets from what it backs: ``anomaly`` when one of ``event_ids`` is an
    anomaly or fault event central has stored, else ``standard`` (``clip_kind`` — ``clip`` or
    ``window`` — does not change it today). Never ``evidence``: only an admin sets that."""
    ids = [i for i in dict.fromkeys(event_ids) if isinstance(i, str)]
    if not ids:
        return "standard"
    hit = session.execute(
        select(Event.id).where(Event.id.in_(ids), Event.kind.in_(sorted(KEEP_KINDS))).limit(1)
    ).first()
    return "anomaly" if hit is not None else "standard"


def retain_until(
    retention_class: str, received_at: datetime, periods: Periods | None = None
) -> datetime | None:
    """Until when a clip of ``retention_class`` that arrived at ``received_at`` is kept
    (None: for good). ``periods`` default to ``configured_periods()``."""
    days = (periods or configured_periods()).days(retention_class)
    return received_at + timedelta(days=days) if days > 0 else None


def lock_clip(session: Session, clip_id: str) -> Clip | None:
    """The clip, re-read and locked until the caller commits, so the sweep cannot delete it in
    between (PostgreSQL: the row; SQLite: the database's write lock)."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("UPDATE clips SET hold = hold WHERE 0 = 1"))
    return session.get(Clip, clip_id, with_for_update=True, populate_existing=True)


def place_hold(session: Session, clip: Clip, actor: str, reason: str) -> None:
    """Put a (locked) clip on legal hold, or replace the reason of its hold; audited as
    ``clip.hold``. The caller commits."""
    detail: dict[str, object] = {"reason": reason}
    if clip.hold:
        detail["previous"] = {
            "reason": clip.hold_reason,
            "by": clip.held_by,
            "at": clip.held_at.isoformat() if clip.held_at else None,
        }
    clip.hold, clip.hold_reason = True, reason
    clip.held_by, clip.held_at = actor[:64], utcnow()
    audit.append(session, actor, "clip.hold", clip.id, detail)


def release_hold(session: Session, clip: Clip, actor: str, reason: str) -> None:
    """Release the legal hold of a (locked) clip; audited as ``clip.release`` with the hold it
    ends. The clip is deleted by the next sweep if its ``retain_until`` has passed."""
    if not clip.hold:
        raise RetentionConflict(f"clip {clip.id!r} is not on hold")
    detail = {
        "reason": reason,
        "hold": {
            "reason": clip.hold_reason,
            "by": clip.held_by,
            "at": clip.held_at.isoformat() if clip.held_at else None,
        },
    }
    clip.hold, clip.hold_reason, clip.held_by, clip.held_at = False, None, None, None
    audit.append(session, actor, "clip.release", clip.id, detail)


def set_class(
    session: Session,
    clip: Clip,
    retention_class: str,
    actor: str,
    reason: str,
    periods: Periods,
) -> bool:
    """Give a (locked) clip another class and the ``retain_until`` that goes with it;
    audited as ``clip.retention``. Refused below the class the clip's events give it.
    False when the clip already has that class (nothing changes, nothing is audited)."""
    floor = classify(session, clip.kind, clip.event_ids or [])
    if rank(retention_class) < rank(floor):
        raise RetentionConflict(
            f"clip {clip.id!r} backs an anomaly or fault event: its class is at least {floor!r}"
        )
    if retention_class == clip.retention_class:
        return False
    change_class(session, clip, retention_class, actor, reason, periods)
    return True


def change_class(
    session: Session, clip: Clip, retention_class: str, actor: str, reason: str, periods: Periods
) -> None:
    """Set the class and ``retain_until`` of a (locked) clip and audit it; no checks."""
    before, until = clip.retention_class, retain_until(retention_class, clip.received_at, periods)
    clip.retention_class, clip.retain_until = retention_class, until
    audit.append(
        session,
        actor,
        "clip.retention",
        clip.id,
        {
            "from": before,
            "to": retention_class,
            "reason": reason,
            "retain_until": until.isoformat() if until else None,
        },
    )
