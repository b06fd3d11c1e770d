"""``/api/v1/clips``: list, detail, and the video stream with HTTP Range and ETag."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, Header, HTTPException, Query, Response, status
from fastapi.responses import StreamingResponse
from pydantic import StringConstraints, TypeAdapter
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from central import audit
from central.api.deps import (
    AppSettings,
    Blobs,
    CurrentSession,
    DbSession,
    UserScope,
    VideoViewer,
)
from central.api.httprange import RangeNotSatisfiable, parse_range
from central.api.query import QueryTime, after_cursor, check_window, json_page
from central.api.schemas import ClipOut, ClipPage, MediaLinkOut, Problem
from central.authz import Scope
from central.db.models import Clip, ClipEvent, Event
from central.security import issue_media_token
from wire.models import MAX_CLIP_SECONDS

router = APIRouter(prefix="/clips", tags=["clips"])

MAX_LIMIT = 500
STREAM_BLOCK = 256 * 1024
MAX_KINDS = 16
EventKind = Annotated[str, StringConstraints(max_length=32)]


# Every column of ``clips``: ``ClipOut`` takes the fields it names, so a column added to both
# flows through without a change here (a column's key is its ORM attribute name).
CLIP_COLUMNS = tuple(Clip.__table__.columns)
CLIP_SELECT = select(*CLIP_COLUMNS)  # built once; each request adds its filters to a copy
CLIP_PAGE = TypeAdapter(ClipPage)


def _clip_fields(values: dict[str, Any]) -> dict[str, Any]:
    """``ClipOut`` input from a clip's column values (completed in place)."""
    values["event_ids"] = list(values["event_ids"])
    values["video_url"] = f"/api/v1/clips/{values['id']}/video"
    return values


def clip_out(row: Clip) -> ClipOut:
    return ClipOut.model_validate(_clip_fields({c.key: getattr(row, c.key) for c in CLIP_COLUMNS}))


def _get_clip(session: Session, clip_id: str, scope: Scope) -> Clip:
    """The clip, if it exists and ``scope`` may see it; 404 alike otherwise (a clip the user
    may not see is not confirmed to exist)."""
    row = session.get(Clip, clip_id) if len(clip_id) <= 64 else None
    if row is None or not scope.allows(session, row.site, row.camera):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no clip {clip_id!r}")
    return row


@router.get("", response_model=ClipPage, responses={400: {"model": Problem}})
async def list_clips(
    scope: UserScope,
    session: DbSession,
    site: Annotated[str | None, Query(max_length=64)] = None,
    camera: Annotated[str | None, Query(max_length=64)] = None,
    event: Annotated[str | None, Query(max_length=64, description="an event id")] = None,
    event_kind: Annotated[
        list[EventKind] | None,
        Query(max_length=MAX_KINDS, description="clips of events of this kind (repeat: any of)"),
    ] = None,
    start: QueryTime = None,
    end: QueryTime = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> Response:
    """Clips overlapping [start, end), newest start first (the inspectors' busiest read:
    its database work runs where ``dbwork`` puts it, inline on SQLite)."""
    check_window(start, end)
    query = CLIP_SELECT.where(scope.cameras_clause(Clip.site, Clip.camera, allow_no_camera=False))
    if site is not None:
        query = query.where(Clip.site == site)
    if camera is not None:
        query = query.where(Clip.camera == camera)
    if event is not None:
        query = query.where(
            Clip.id.in_(select(ClipEvent.clip_id).where(ClipEvent.event_id == event))
        )
    if event_kind:
        # correlated, so the clips of the window drive it: as ``IN (…)`` SQLite would read
        # every event of the kinds (no index leads with ``kind``) before looking at one clip
        query = query.where(
            exists().where(
                ClipEvent.clip_id == Clip.id,
                Event.id == ClipEvent.event_id,
                Event.kind.in_(event_kind),
            )
        )
    if start is not None:
        query = query.where(Clip.end > start)
        # no clip spans more than MAX_CLIP_SECONDS: the bound on start lets the index work
        query = query.where(Clip.start > start - timedelta(seconds=MAX_CLIP_SECONDS))
    if end is not None:
        query = query.where(Clip.start < end)
    query = after_cursor(query, cursor, Clip.start, Clip.id).limit(limit + 1)
    return await json_page(session, query, limit, "start", _clip_fields, CLIP_PAGE)


@router.get("/{clip_id}", response_model=ClipOut, responses={404: {"model": Problem}})
def get_clip(clip_id: str, scope: UserScope, session: DbSession) -> ClipOut:
    row = _get_clip(session, clip_id, scope)
    audit.append(session, scope.user.username, "clip.view", row.id)
    session.commit()
    return clip_out(row)


MEDIA_LINK_SECONDS = 300


@router.get(
    "/{clip_id}/video-url", response_model=MediaLinkOut, responses={404: {"model": Problem}}
)
def clip_video_url(
    clip_id: str,
    scope: UserScope,
    auth: CurrentSession,
    session: DbSession,
    settings: AppSettings,
) -> MediaLinkOut:
    """A link that streams this clip for a few minutes without an Authorization header
    (for a browser's ``<video>`` element). Each stream through it is still audited."""
    row = _get_clip(session, clip_id, scope)
    token, expires = issue_media_token(
        settings.secret(), scope.user.username, row.id, MEDIA_LINK_SECONDS, session_id=auth.id
    )  # the link dies with this session
    return MediaLinkOut(url=f"/api/v1/clips/{row.id}/video?sig={token}", expires_at=expires)


def _stream(handle: BinaryIO, first: int, length: int) -> Iterator[bytes]:
    try:
        handle.seek(first)
        remaining = length
        while remaining > 0:
            block = handle.read(min(STREAM_BLOCK, remaining))
            if not block:
                break
            remaining -= len(block)
            yield block
    finally:
        handle.close()


VIDEO_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {"video/mp4": {}}, "description": "the whole clip"},
    206: {"content": {"video/mp4": {}}, "description": "one byte range of the clip"},
    304: {"description": "If-None-Match matched the ETag"},
    404: {"model": Problem},
    416: {"model": Problem, "description": "Range malformed or outside the clip"},
}


@router.get("/{clip_id}/video", response_class=StreamingResponse, responses=VIDEO_RESPONSES)
def clip_video(
    clip_id: str,
    user: VideoViewer,
    session: DbSession,
    blobs: Blobs,
    range_header: Annotated[str | None, Header(alias="Range")] = None,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> Response:
    """Stream the clip (video/mp4). Single byte ranges only; ETag is the quoted sha256."""
    row = _get_clip(session, clip_id, Scope.of(session, user))
    etag = f'"{row.sha256}"'
    common = {"ETag": etag, "Accept-Ranges": "bytes", "Cache-Control": "private, no-transform"}
    if if_none_match is not None and (
        if_none_match.strip() == "*"
        or etag in [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    ):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=common)
    first, last, code = 0, row.size - 1, status.HTTP_200_OK
    if range_header is not None:
        try:
            first, last = parse_range(range_header, row.size)
        except RangeNotSatisfiable as exc:
            raise HTTPException(
                status.HTTP_416_RANGE_NOT_SATISFIABLE,
                detail=f"Range {range_header[:100]!r}: {exc}",
                headers={"Content-Range": f"bytes */{row.size}", **common},
            ) from exc
        code = status.HTTP_206_PARTIAL_CONTENT
        common["Content-Range"] = f"bytes {first}-{last}/{row.size}"
    handle = blobs.open(row.sha256)
    try:
        audit.append(
            session,
            user.username,
            "clip.video",
            row.id,
            {"range": [first, last]} if code == status.HTTP_206_PARTIAL_CONTENT else {},
        )
        session.commit()
    except BaseException:
        handle.close()  # no stream without its audit line
        raise
    length = last - first + 1
    return StreamingResponse(
        _stream(handle, first, length),
        status_code=code,
        media_type="video/mp4",
        headers={**common, "Content-Length": str(length)},
    )
