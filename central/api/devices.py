"""``GET /api/v1/devices``: every edge's online status, last sequence and open alarms."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import select

from central.api.deps import DbSession, UserScope
from central.db.models import Alarm, Device

router = APIRouter(prefix="/devices", tags=["devices"])


class AlarmOut(BaseModel):
    id: int
    kind: str
    detail: dict[str, Any]
    raised_at: datetime


class DeviceOut(BaseModel):
    site: str
    device: str
    status: str
    last_seen: datetime | None
    last_seq: int
    clock_synced: bool
    version: str | None
    alarms: list[AlarmOut]


@router.get("", response_model=list[DeviceOut])
def list_devices(scope: UserScope, session: DbSession) -> list[DeviceOut]:
    """Devices of the sites the user may see, with their open alarms."""
    open_alarms: dict[tuple[str, str], list[AlarmOut]] = {}
    for alarm in session.scalars(
        select(Alarm)
        .where(Alarm.cleared_at.is_(None), scope.sites_clause(Alarm.site))
        .order_by(Alarm.id)
    ):
        open_alarms.setdefault((alarm.site, alarm.device), []).append(
            AlarmOut(id=alarm.id, kind=alarm.kind, detail=alarm.detail, raised_at=alarm.raised_at)
        )
    rows = session.scalars(
        select(Device)
        .where(scope.sites_clause(Device.site_id))
        .order_by(Device.site_id, Device.device_id)
    )
    return [
        DeviceOut(
            site=row.site_id,
            device=row.device_id,
            status=row.status,
            last_seen=row.last_seen,
            last_seq=row.last_seq,
            clock_synced=row.clock_synced,
            version=row.version,
            alarms=open_alarms.get((row.site_id, row.device_id), []),
        )
        for row in rows
    ]
