"""``GET /api/v1/events``: site events, newest first, keyset-paginated."""

from __future__ import annotations

from datetime import timedelta, timezone
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from central.api.deps import DbSession, UserScope
from central.api.query import QueryTime, after_cursor, check_window, page
from central.api.schemas import EventOut, EventPage, Problem
from central.db.models import Event

router = APIRouter(prefix="/events", tags=["events"])

MAX_LIMIT = 500


def event_out(row: Event) -> EventOut:
    offset = timezone(timedelta(minutes=row.occurred_offset_min))
    return EventOut(
        id=row.id,
        site=row.site,
        device=row.device,
        seq=row.seq,
        kind=row.kind,
        occurred_at=row.occurred_at.astimezone(offset),
        camera=row.camera,
        source=row.source,
        data=row.data,
        clock_synced=row.clock_synced,
        received_at=row.received_at,
    )


@router.get("", response_model=EventPage, responses={400: {"model": Problem}})
def list_events(
    scope: UserScope,
    session: DbSession,
    site: Annotated[str | None, Query(max_length=64)] = None,
    camera: Annotated[str | None, Query(max_length=64)] = None,
    kind: Annotated[str | None, Query(max_length=32)] = None,
    container: Annotated[
        str | None, Query(max_length=11, description="container number (ISO 6346)")
    ] = None,
    start: QueryTime = None,
    end: QueryTime = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> EventPage:
    check_window(start, end)
    query = select(Event).where(scope.cameras_clause(Event.site, Event.camera))
    if site is not None:
        query = query.where(Event.site == site)
    if camera is not None:
        query = query.where(Event.camera == camera)
    if kind is not None:
        query = query.where(Event.kind == kind)
    if container is not None:
        query = query.where(Event.container_no == container.strip().upper())
    if start is not None:
        query = query.where(Event.occurred_at >= start)
    if end is not None:
        query = query.where(Event.occurred_at < end)
    query = after_cursor(query, cursor, Event.occurred_at, Event.id).limit(limit + 1)
    rows, next_cursor = page(list(session.execute(query).scalars()), limit, "occurred_at")
    return EventPage(items=[event_out(r) for r in rows], next_cursor=next_cursor)
