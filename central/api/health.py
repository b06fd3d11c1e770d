"""Root-level ``/healthz`` and ``/metrics`` (Prometheus text), outside ``/api/v1``."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import PlainTextResponse
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from central import crl
from central.api.deps import AppSettings, DbSession
from central.api.schemas import HealthOut, Problem
from central.db.engine import Database
from central.db.models import Clip, Device, Event, Transfer

router = APIRouter(tags=["ops"])


@router.get("/healthz", response_model=HealthOut, responses={503: {"model": Problem}})
def healthz(request: Request) -> HealthOut:
    db: Database = request.app.state.db
    if not db.ping():
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="database unreachable")
    return HealthOut(status="ok")


def crl_lines(path: Path | None) -> list[str]:
    """The broker CRL's expiry: Mosquitto refuses every client once it has passed, so alert
    well before (docs/deployment.md). Nothing when no CRL file is configured."""
    if path is None:
        return []
    next_update = crl.next_update_of(path)
    lines = [
        "# HELP reeferwatch_crl_readable 1 if the broker's CRL file could be read and parsed",
        "# TYPE reeferwatch_crl_readable gauge",
        f"reeferwatch_crl_readable {int(next_update is not None)}",
    ]
    if next_update is not None:
        lines += [
            "# HELP reeferwatch_crl_next_update_seconds Unix time the broker's CRL expires",
            "# TYPE reeferwatch_crl_next_update_seconds gauge",
            f"reeferwatch_crl_next_update_seconds {next_update.timestamp():.0f}",
        ]
    return lines


@router.get("/metrics", response_class=PlainTextResponse, responses={503: {"model": Problem}})
def metrics(session: DbSession, settings: AppSettings) -> str:
    """Counts from the database in Prometheus text exposition format."""
    try:
        clips, clip_bytes = session.execute(
            select(func.count(Clip.id), func.coalesce(func.sum(Clip.size), 0))
        ).one()
        events = session.execute(select(func.count(Event.id))).scalar_one()
        devices = session.execute(select(Device.status, func.count()).group_by(Device.status))
        transfers = session.execute(select(Transfer.state, func.count()).group_by(Transfer.state))
        device_lines = [f'reeferwatch_devices{{status="{s}"}} {n}' for s, n in devices]
        transfer_lines = [f'reeferwatch_transfers{{state="{s}"}} {n}' for s, n in transfers]
    except SQLAlchemyError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="database error") from exc
    lines = [
        "# HELP reeferwatch_clips_total Clips stored centrally.",
        "# TYPE reeferwatch_clips_total gauge",
        f"reeferwatch_clips_total {clips}",
        "# TYPE reeferwatch_clip_bytes gauge",
        f"reeferwatch_clip_bytes {clip_bytes}",
        "# HELP reeferwatch_events_total Events stored centrally.",
        "# TYPE reeferwatch_events_total gauge",
        f"reeferwatch_events_total {events}",
        "# TYPE reeferwatch_devices gauge",
        *device_lines,
        "# TYPE reeferwatch_transfers gauge",
        *transfer_lines,
        *crl_lines(settings.crl_file),
    ]
    return "\n".join(lines) + "\n"
