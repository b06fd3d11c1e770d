"""``/api/v1/auth/sessions``: the caller's sessions; revoke one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response, status

from central.api.deps import CurrentSession, CurrentUser, DbSession
from central.api.schemas import Problem, SessionOut
from central.auth import login, sessions, terminals
from central.db.models import AuthSession
from central.db.types import utcnow

router = APIRouter(prefix="/sessions")


@router.get("", response_model=list[SessionOut], responses={401: {"model": Problem}})
def list_sessions(
    user: CurrentUser,
    current: CurrentSession,
    session: DbSession,
    include_ended: Annotated[
        bool, Query(description="also sessions that ended in the last 30 days")
    ] = False,
) -> list[SessionOut]:
    """The caller's own sessions, newest first."""
    now = utcnow()
    rows = sessions.of_user(session, user.id, now, include_ended)
    names = terminals.names(session, {row.terminal_id for row in rows})
    return [
        SessionOut(
            id=row.id,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
            revoked_reason=row.revoked_reason,
            state=sessions.state(row, now),
            client=row.client,
            terminal=names.get(row.terminal_id),
            current=row.id == current.id,
        )
        for row in rows
    ]


@router.delete(
    "/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={401: {"model": Problem}, 404: {"model": Problem}},
)
def revoke_session(
    session_id: Annotated[str, Path(max_length=32)],
    user: CurrentUser,
    session: DbSession,
) -> Response:
    """Revoke one of the caller's own sessions (``user revoke-sessions`` on the central host
    ends another user's)."""
    row = session.get(AuthSession, session_id)
    if row is None or row.user_id != user.id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"you have no session {session_id!r}")
    login.sign_out(session, user, row, user.username, "revoked")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
