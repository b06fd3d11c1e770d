"""``GET /api/v1/audit``: the audit log, newest first, for admins only, scoped by
``Scope.audit_clause`` (``central.authz``). Reading it is itself an audit line (``audit.view``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel
from sqlalchemy import select

from central import audit
from central.api.cursor import decode_cursor, encode_cursor
from central.api.deps import DbSession, UserScope
from central.api.query import QueryTime, check_window
from central.api.schemas import Problem
from central.db.models import Audit
from wire.errors import WireError

router = APIRouter(prefix="/audit", tags=["audit"])

MAX_LIMIT = 500


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    target: str | None
    detail: dict[str, Any]
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    items: list[AuditOut]
    next_cursor: str | None


def _before(cursor: str) -> int:
    """The id a cursor continues below (rows come in id order: the chain's order)."""
    try:
        _at, item_id = decode_cursor(cursor)
        if not item_id.isdigit():
            raise WireError("cursor: not a cursor of /audit")
    except WireError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(exc)) from exc
    return int(item_id)


@router.get(
    "", response_model=AuditPage, responses={400: {"model": Problem}, 403: {"model": Problem}}
)
def list_audit(
    scope: UserScope,
    session: DbSession,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    start: QueryTime = None,
    end: QueryTime = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> AuditPage:
    """Audit lines the admin may read, newest first; ``start`` inclusive, ``end`` exclusive."""
    if not scope.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="the audit log is for admins only")
    check_window(start, end)
    for name, value in (("actor", actor), ("action", action)):
        if value is not None and "\x00" in value:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=f"{name}: contains a NUL")
    query = select(Audit).where(scope.audit_clause())
    if actor is not None:
        query = query.where(Audit.actor == actor)
    if action is not None:
        query = query.where(Audit.action == action)
    if start is not None:
        query = query.where(Audit.at >= start)
    if end is not None:
        query = query.where(Audit.at < end)
    if cursor is not None:
        query = query.where(Audit.id < _before(cursor))
    rows = list(session.scalars(query.order_by(Audit.id.desc()).limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].at, str(rows[-1].id))
    items = [AuditOut.model_validate(row, from_attributes=True) for row in rows]
    asked = {"actor": actor, "action": action, "start": start, "end": end}
    detail: dict[str, Any] = {
        key: value.isoformat() if isinstance(value, datetime) else value
        for key, value in asked.items()
        if value is not None
    }
    detail.update(rows=len(items), continued=cursor is not None)
    audit.append(session, scope.user.username, "audit.view", None, detail)
    session.commit()
    return AuditPage(items=items, next_cursor=next_cursor)
