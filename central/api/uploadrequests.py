"""Historical playback on demand: ``POST /api/v1/sites/{id}/upload-requests`` asks a site's
box for a recorded window of one camera (an ``upload_window`` command, ``central.commands``);
``/api/v1/upload-requests`` follows it until the clip has arrived."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from central import audit, commands
from central.api.clips import clip_out
from central.api.deps import DbSession, UserScope
from central.api.query import after_cursor, page
from central.api.schemas import Problem, UploadRequestIn, UploadRequestOut, UploadRequestPage
from central.db.models import Clip, Command, Device
from wire.errors import WireError

router = APIRouter(tags=["upload requests"])

MAX_LIMIT = 200
WINDOW = "upload_window"
STATUS_OF_STATE = {"queued": "queued", "sent": "sent", "done": "accepted", "failed": "failed",
                   "expired": "expired"}  # fmt: skip


def _time(args: dict[str, object], key: str) -> datetime | None:
    value = args.get(key)
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def request_out(row: Command, clip: Clip | None) -> UploadRequestOut:
    status_text = STATUS_OF_STATE.get(row.state, row.state)
    if clip is not None and row.state == "done":
        status_text = "delivered"
    reason = row.args.get("reason")
    return UploadRequestOut(
        id=row.id, site=row.site, device=row.device, camera=row.camera,
        start=_time(row.args, "start"), end=_time(row.args, "end"),
        reason=reason if isinstance(reason, str) else None, issued_by=row.issued_by,
        issued_at=row.issued_at, expires_at=row.expires_at, status=status_text,
        detail=row.detail, file_id=row.file_id, clip=clip_out(clip) if clip else None,
    )  # fmt: skip


def _clips(session: Session, rows: list[Command]) -> dict[str, Clip]:
    ids = [r.file_id for r in rows if r.file_id]
    if not ids:
        return {}
    return {c.id: c for c in session.scalars(select(Clip).where(Clip.id.in_(ids)))}


def _site_device(session: Session, site: str, chosen: str | None) -> str:
    """The box to ask: ``chosen`` if it is a device of ``site`` (422 naming the problem
    otherwise), else the one heard from last."""
    if chosen is not None:
        if session.get(Device, (site, chosen)) is None:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                detail=f"device {chosen!r} is not a device of site {site!r}",
            )
        return chosen
    device = session.scalars(
        select(Device.device_id)
        .where(Device.site_id == site)
        .order_by(Device.last_seen.desc().nulls_last())
        .limit(1)
    ).first()
    if device is None:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=f"no box has reported for {site!r}")
    return device


@router.post(
    "/sites/{site_id}/upload-requests",
    response_model=UploadRequestOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses={404: {"model": Problem}, 409: {"model": Problem}, 422: {"model": Problem}},
)
def create_upload_request(
    site_id: str, body: UploadRequestIn, scope: UserScope, session: DbSession
) -> UploadRequestOut:
    """Anyone who may see the camera may ask for its recording (audited). ``device`` picks
    the site's box to ask (default: the one heard from last). The box answers within seconds
    when online; the clip follows after every event and session clip."""
    if len(site_id) > 64 or not scope.allows(session, site_id, body.camera):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no camera {body.camera!r} here")
    try:
        args = commands.window_args(body.camera, body.start, body.end, body.reason)
    except WireError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from exc
    device = _site_device(session, site_id, body.device)
    row = commands.issue(
        session, site=site_id, device=device, kind=WINDOW, args=args,
        issued_by=scope.user.username, camera=body.camera,
    )  # fmt: skip
    audit.append(session, scope.user.username, "upload_request.create", row.id,
                 {"site": site_id, "device": device, **args})  # fmt: skip
    session.commit()
    return request_out(row, None)


@router.get("/upload-requests", response_model=UploadRequestPage)
def list_upload_requests(
    scope: UserScope,
    session: DbSession,
    site: Annotated[str | None, Query(max_length=64)] = None,
    mine: Annotated[bool, Query(description="only requests I made")] = False,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> UploadRequestPage:
    """Requests for the cameras the caller may see, newest first."""
    query = select(Command).where(
        Command.kind == WINDOW,
        scope.cameras_clause(Command.site, Command.camera, allow_no_camera=False),
    )
    if site is not None:
        query = query.where(Command.site == site)
    if mine:
        query = query.where(Command.issued_by == scope.user.username)
    query = after_cursor(query, cursor, Command.issued_at, Command.id).limit(limit + 1)
    rows, next_cursor = page(list(session.scalars(query)), limit, "issued_at")
    clips = _clips(session, rows)
    items = [request_out(r, clips.get(r.file_id or "")) for r in rows]
    return UploadRequestPage(items=items, next_cursor=next_cursor)


@router.get(
    "/upload-requests/{request_id}",
    response_model=UploadRequestOut,
    responses={404: {"model": Problem}},
)
def get_upload_request(request_id: str, scope: UserScope, session: DbSession) -> UploadRequestOut:
    row = session.get(Command, request_id) if len(request_id) <= 64 else None
    if row is None or row.kind != WINDOW or not scope.allows(session, row.site, row.camera):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no request {request_id!r}")
    clip = session.get(Clip, row.file_id) if row.file_id else None
    return request_out(row, clip)
