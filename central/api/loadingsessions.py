"""``/api/v1/loading-sessions``: the containers loaded at the sites a user may see, with
the clips that cover each loading (regulation Annex 1 is filled in from them)."""

from __future__ import annotations

from datetime import timedelta, timezone
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from sqlalchemy import select

from central import audit
from central.api.clips import clip_out
from central.api.deps import DbSession, UserScope
from central.api.query import QueryTime, after_cursor, check_window, page
from central.api.schemas import (
    LoadingSessionDetail,
    LoadingSessionOut,
    LoadingSessionPage,
    Problem,
)
from central.db.models import Clip, ClipEvent, LoadingSession

router = APIRouter(prefix="/loading-sessions", tags=["loading sessions"])

MAX_LIMIT = 500


def session_out(row: LoadingSession) -> LoadingSessionOut:
    local = timezone(timedelta(minutes=row.started_offset_min))
    duration = (row.ended_at - row.started_at).total_seconds() if row.ended_at else None
    return LoadingSessionOut(
        id=row.id,
        site=row.site,
        device=row.device,
        container_no=row.container_no,
        vehicle_plate=row.vehicle_plate,
        seal_numbers=[s for s in (row.seal_numbers or "").split(",") if s],
        started_at=row.started_at.astimezone(local),
        ended_at=row.ended_at.astimezone(local) if row.ended_at else None,
        duration_s=duration,
        start_event_id=row.start_event_id,
        end_event_id=row.end_event_id,
    )


@router.get("", response_model=LoadingSessionPage, responses={400: {"model": Problem}})
def list_loading_sessions(
    scope: UserScope,
    session: DbSession,
    site: Annotated[str | None, Query(max_length=64)] = None,
    container: Annotated[
        str | None, Query(max_length=11, description="container number (ISO 6346)")
    ] = None,
    open_only: Annotated[
        bool, Query(alias="open", description="only sessions still loading")
    ] = False,
    start: QueryTime = None,
    end: QueryTime = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> LoadingSessionPage:
    """Newest first by start; ``start``/``end`` bound the start time."""
    check_window(start, end)
    query = select(LoadingSession).where(scope.sites_clause(LoadingSession.site))
    if site is not None:
        query = query.where(LoadingSession.site == site)
    if container is not None:
        query = query.where(LoadingSession.container_no == container.strip().upper())
    if open_only:
        query = query.where(LoadingSession.ended_at.is_(None))
    if start is not None:
        query = query.where(LoadingSession.started_at >= start)
    if end is not None:
        query = query.where(LoadingSession.started_at < end)
    query = after_cursor(query, cursor, LoadingSession.started_at, LoadingSession.id)
    rows, next_cursor = page(
        list(session.execute(query.limit(limit + 1)).scalars()), limit, "started_at"
    )
    return LoadingSessionPage(items=[session_out(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/{session_id}", response_model=LoadingSessionDetail, responses={404: {"model": Problem}}
)
def get_loading_session(
    session_id: str, scope: UserScope, session: DbSession
) -> LoadingSessionDetail:
    """One session and the clips covering it (those of cameras the caller may see)."""
    row = session.get(LoadingSession, session_id) if len(session_id) <= 64 else None
    if row is None or not scope.allows(session, row.site, None):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no loading session {session_id!r}")
    event_ids = [e for e in (row.start_event_id, row.end_event_id) if e]
    clips = session.scalars(
        select(Clip)
        .where(
            Clip.id.in_(select(ClipEvent.clip_id).where(ClipEvent.event_id.in_(event_ids))),
            scope.cameras_clause(Clip.site, Clip.camera, allow_no_camera=False),
            Clip.site == row.site,
        )
        .order_by(Clip.camera, Clip.start)
    ).all()
    audit.append(session, scope.user.username, "loading_session.view", row.id)
    session.commit()
    return LoadingSessionDetail(**session_out(row).model_dump(), clips=[clip_out(c) for c in clips])
