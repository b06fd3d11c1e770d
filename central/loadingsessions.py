"""Loading sessions at central: one row per container loaded, kept from the edge's
``loading_start`` / ``loading_end`` events (DESIGN §5; regulation Annex 1).

The edge puts the session's facts in both events' ``data`` (``session_id``, ``container_no``,
``vehicle_plate``, ``seal_numbers``, ``started_at``; the end adds ``ended_at``). Events may
arrive in any order and more than once: ``record`` merges what each one says into the row
(a value is never blanked by an event that lacks it; the end event's facts win, since
numbers entered while loading are final at the end). An event without a ``session_id`` is
not a session event and is ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.orm import Session

from central.db.models import LoadingSession
from central.db.types import offset_minutes, utcnow

log = logging.getLogger(__name__)

SESSION_KINDS = frozenset({"loading_start", "loading_end"})
MAX_PLATE, MAX_SEALS = 32, 600


def _text(data: Mapping[str, object], key: str, limit: int) -> str | None:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[:limit]


def _time(data: Mapping[str, object], key: str) -> datetime | None:
    value = data.get(key)
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.utcoffset() is not None else None


def record(
    session: Session,
    *,
    site: str,
    device: str,
    event_id: str,
    kind: str,
    occurred_at: datetime,
    source: str | None,
    data: Mapping[str, object],
    container_no: str | None,
) -> LoadingSession | None:
    """Merge one loading event into its session row (created on first sight); flushed."""
    session_id = _text(data, "session_id", 64)
    if kind not in SESSION_KINDS or session_id is None:
        return None
    row = session.get(LoadingSession, session_id)
    if row is None:
        started = _time(data, "started_at") or occurred_at
        row = LoadingSession(id=session_id, site=site, device=device, started_at=started)
        row.started_offset_min = offset_minutes(started)
        session.add(row)
    elif (row.site, row.device) != (site, device):
        log.warning(
            "loading event %s names session %s of %s/%s, not %s/%s: ignored",
            event_id, session_id, row.site, row.device, site, device,
        )  # fmt: skip
        return None
    ending = kind == "loading_end"
    if ending:
        row.end_event_id = event_id
        row.end_source = source
        row.ended_at = _time(data, "ended_at") or occurred_at
    else:
        row.start_event_id = event_id
        row.start_source = source
        started = _time(data, "started_at") or occurred_at
        row.started_at, row.started_offset_min = started, offset_minutes(started)
    facts = {
        "container_no": container_no,
        "vehicle_plate": _text(data, "vehicle_plate", MAX_PLATE),
        "seal_numbers": _text(data, "seal_numbers", MAX_SEALS),
    }
    for name, value in facts.items():
        if value is not None and (ending or getattr(row, name) is None):
            setattr(row, name, value)
    row.updated_at = utcnow()
    session.flush()
    return row
