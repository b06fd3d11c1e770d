"""``GET /api/v1/events``: site events, newest first, keyset-paginated."""

from __future__ import annotations

from datetime import timedelta, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import TypeAdapter
from sqlalchemy import select

from central.api.deps import DbSession, UserScope
from central.api.query import QueryTime, after_cursor, check_window, json_page
from central.api.schemas import EventPage, Problem
from central.db.models import Event

router = APIRouter(prefix="/events", tags=["events"])

MAX_LIMIT = 500


# Every column of ``events`` (``EventOut`` takes the fields it names; a column's key is its
# ORM attribute name).
EVENT_COLUMNS = tuple(Event.__table__.columns)
EVENT_SELECT = select(*EVENT_COLUMNS)  # built once; each request adds its filters to a copy
EVENT_PAGE = TypeAdapter(EventPage)


def _event_fields(values: dict[str, Any]) -> dict[str, Any]:
    """``EventOut`` input from an event's column values (completed in place): the time in
    the edge's offset."""
    offset = timezone(timedelta(minutes=values["occurred_offset_min"]))
    values["occurred_at"] = values["occurred_at"].astimezone(offset)
    return values


@router.get("", response_model=EventPage, responses={400: {"model": Problem}})
async def list_events(
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
) -> Response:
    check_window(start, end)
    query = EVENT_SELECT.where(scope.cameras_clause(Event.site, Event.camera))
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
    return await json_page(session, query, limit, "occurred_at", _event_fields, EVENT_PAGE)
