"""``/api/v1/clips/{id}/hold`` and ``/retention``: legal hold and retention class of a clip
(regulation Art. 18–19, ``central.retention``). Admins only, within their scope; every change
is an audit line (``clip.hold``, ``clip.release``, ``clip.retention``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, HTTPException, Query, status
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session

from central import retention
from central.api.clips import _get_clip, clip_out
from central.api.deps import AppSettings, DbSession, admin_only
from central.api.schemas import ClipOut, Problem, plain_text
from central.authz import Scope
from central.db.models import Clip
from central.retention import MAX_REASON_CHARS, RetentionClass, RetentionConflict

router = APIRouter(prefix="/clips", tags=["clips"])


Reason = Annotated[
    str,
    Field(min_length=1, max_length=MAX_REASON_CHARS, description="why; kept in the audit log"),
    AfterValidator(plain_text),
]


class HoldIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason


class ReleaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason


class RetentionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    retention_class: RetentionClass = Field(description="standard | anomaly | evidence")
    reason: Reason


AdminScope = Annotated[
    Scope, Depends(admin_only("only admins may change a clip's hold or retention"))
]

RESPONSES: dict[int | str, dict[str, object]] = {
    400: {"model": Problem},
    403: {"model": Problem},
    404: {"model": Problem},
    409: {"model": Problem},
}


def _locked(session: Session, clip_id: str, scope: Scope) -> Clip:
    """The clip as ``GET /clips/{id}`` finds it (404 alike when unknown or out of scope),
    locked against the retention sweep until the commit."""
    row = retention.lock_clip(session, _get_clip(session, clip_id, scope).id)
    if row is None:  # deleted by the sweep since
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no clip {clip_id!r}")
    return row


def _conflict(exc: RetentionConflict) -> HTTPException:
    return HTTPException(status.HTTP_409_CONFLICT, detail=str(exc))


@router.put("/{clip_id}/hold", response_model=ClipOut, responses=RESPONSES)
def place_hold(clip_id: str, body: HoldIn, scope: AdminScope, session: DbSession) -> ClipOut:
    """Put the clip on legal hold (Art. 18): the retention sweep never deletes it. Placing it
    again replaces the reason."""
    row = _locked(session, clip_id, scope)
    retention.place_hold(session, row, scope.user.username, body.reason)
    session.commit()
    return clip_out(row)


@router.delete("/{clip_id}/hold", response_model=ClipOut, responses=RESPONSES)
def release_hold(
    clip_id: str,
    scope: AdminScope,
    session: DbSession,
    body: Annotated[ReleaseIn | None, Body()] = None,
    reason: Annotated[
        str | None,
        Query(max_length=MAX_REASON_CHARS, description="instead of a JSON body {reason}"),
    ] = None,
) -> ClipOut:
    """Release the clip's legal hold (409 if it has none), with a reason in a JSON body or
    ``?reason=``. A clip whose ``retain_until`` has passed goes with the next sweep."""
    if body is not None:
        why = body.reason
    elif reason is not None:
        try:
            why = ReleaseIn(reason=reason).reason
        except ValidationError as exc:
            message = exc.errors()[0]["msg"]
            raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=f"reason: {message}") from exc
    else:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, detail="reason is required (JSON body or ?reason=)"
        )
    row = _locked(session, clip_id, scope)
    try:
        retention.release_hold(session, row, scope.user.username, why)
    except RetentionConflict as exc:
        raise _conflict(exc) from exc
    session.commit()
    return clip_out(row)


@router.put("/{clip_id}/retention", response_model=ClipOut, responses=RESPONSES)
def set_retention(
    clip_id: str,
    body: RetentionIn,
    scope: AdminScope,
    session: DbSession,
    settings: AppSettings,
) -> ClipOut:
    """Set the clip's retention class; ``retain_until`` follows from it. Raising to
    ``evidence`` keeps it as long as evidence is kept; no class goes below what the clip's
    events give it (409)."""
    row = _locked(session, clip_id, scope)
    periods = retention.Periods.of(settings)
    try:
        changed = retention.set_class(
            session, row, body.retention_class, scope.user.username, body.reason, periods
        )
    except RetentionConflict as exc:
        raise _conflict(exc) from exc
    if changed:
        session.commit()
    return clip_out(row)
