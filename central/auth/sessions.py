"""Revocable sessions. A sign-in opens one; its access tokens carry its id (checked on every
request), and its refresh token rotates on every use. Presenting a refresh token that was
already rotated away means two parties hold the session: it is revoked at once."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from central.db.models import AuthSession, User
from central.security import (
    RefreshClaims,
    issue_refresh_token,
    issue_token,
    token_digest,
)
from central.settings import Settings
from wire.errors import AuthError

TOUCH_EVERY = timedelta(seconds=60)  # last_used_at is written at most this often
KEEP_ENDED = timedelta(days=30)


class RefreshReused(AuthError):
    """A refresh token that had already been rotated was presented; the session is revoked."""


@dataclass(frozen=True)
class Tokens:
    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
    session_id: str


def _tokens(
    settings: Settings, user: User, row: AuthSession, refresh: str, now: datetime
) -> Tokens:
    expires = min(now + timedelta(minutes=settings.access_token_minutes), row.expires_at)
    access, expires_in = issue_token(
        settings.secret(), user.username, user.role, row.id, now, expires
    )
    return Tokens(
        access_token=access,
        expires_in=expires_in,
        refresh_token=refresh,
        refresh_expires_in=max(0, round((row.expires_at - now).total_seconds())),
        session_id=row.id,
    )


def open_session(
    session: Session,
    settings: Settings,
    user: User,
    client: str,
    terminal_id: int | None,
    now: datetime,
) -> Tokens:
    """Start a session for ``user``; the caller commits."""
    sid = uuid.uuid4().hex
    expires = now + timedelta(hours=settings.refresh_token_hours)
    refresh = issue_refresh_token(settings.secret(), sid, 0, expires)
    row = AuthSession(
        id=sid,
        user_id=user.id,
        created_at=now,
        last_used_at=now,
        expires_at=expires,
        refresh_hash=token_digest(refresh),
        refresh_generation=0,
        client=client[:64],
        terminal_id=terminal_id,
    )
    session.add(row)
    session.flush()
    return _tokens(settings, user, row, refresh, now)


def state(row: AuthSession, now: datetime) -> str:
    """``live``, ``revoked`` or ``expired``."""
    if row.revoked_at is not None:
        return "revoked"
    return "live" if row.expires_at > now else "expired"


def live(session: Session, session_id: str, now: datetime) -> AuthSession:
    """The session, if it is neither revoked nor expired (``AuthError`` naming which)."""
    row = session.get(AuthSession, session_id) if len(session_id) <= 32 else None
    if row is None:
        raise AuthError("token of an unknown session: sign in again")
    what = state(row, now)
    if what == "revoked":
        raise AuthError(f"session revoked ({row.revoked_reason}): sign in again")
    if what == "expired":
        raise AuthError("session expired: sign in again")
    return row


def touch_due(row: AuthSession, now: datetime) -> bool:
    """Whether ``touch`` would write (the last stamp is a minute old)."""
    return now - row.last_used_at >= TOUCH_EVERY


def touch(session: Session, row: AuthSession, now: datetime) -> bool:
    """Record use of the session (at most once a minute); True if a row was written."""
    if not touch_due(row, now):
        return False
    row.last_used_at = now
    session.flush()
    return True


def _reused(session: Session, row: AuthSession, claims: RefreshClaims, now: datetime) -> NoReturn:
    session.refresh(row)
    revoke(session, row, "refresh_reuse", now)
    raise RefreshReused(
        f"refresh token of generation {claims.gen} was already used (the session is at "
        f"{row.refresh_generation}): the session is revoked, sign in again"
    )


def check_current(
    session: Session, row: AuthSession, token: str, claims: RefreshClaims, now: datetime
) -> None:
    """A validly signed refresh token of this session that is not its current one was
    rotated away already: revoke the session (``RefreshReused``). The caller commits."""
    if token_digest(token) != row.refresh_hash:
        _reused(session, row, claims, now)


def rotate(
    session: Session,
    settings: Settings,
    user: User,
    row: AuthSession,
    token: str,
    claims: RefreshClaims,
    now: datetime,
) -> Tokens:
    """Swap the session's refresh token for a new one. The swap is one conditional UPDATE,
    so of two requests with the same token only one wins; the loser revokes the session
    (``RefreshReused``), as any token of an earlier generation does. The caller commits."""
    generation = row.refresh_generation + 1
    refresh = issue_refresh_token(settings.secret(), row.id, generation, row.expires_at)
    swapped = session.execute(
        update(AuthSession)
        .where(
            AuthSession.id == row.id,
            AuthSession.refresh_hash == token_digest(token),
            AuthSession.revoked_at.is_(None),
        )
        .values(refresh_hash=token_digest(refresh), refresh_generation=generation, last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    if swapped.rowcount != 1:  # type: ignore[attr-defined]
        _reused(session, row, claims, now)
    session.refresh(row)
    return _tokens(settings, user, row, refresh, now)


def revoke(session: Session, row: AuthSession, reason: str, now: datetime) -> bool:
    """Revoke one session; False if it had already been revoked."""
    if row.revoked_at is not None:
        return False
    row.revoked_at, row.revoked_reason = now, reason[:32]
    session.flush()
    return True


def revoke_all(
    session: Session,
    reason: str,
    now: datetime,
    *,
    user_id: int | None = None,
    terminal_id: int | None = None,
    outside: Collection[int] | None = None,
    keep: str | None = None,
) -> int:
    """Revoke the live sessions of a user and/or a terminal — or of a user from anywhere
    but the ``outside`` terminals — except session ``keep``; return how many."""
    if user_id is None and terminal_id is None:
        raise ValueError("revoke_all needs a user or a terminal")
    query = update(AuthSession).where(
        AuthSession.revoked_at.is_(None), AuthSession.expires_at > now
    )
    if user_id is not None:
        query = query.where(AuthSession.user_id == user_id)
    if terminal_id is not None:
        query = query.where(AuthSession.terminal_id == terminal_id)
    if keep is not None:
        query = query.where(AuthSession.id != keep)
    if outside is not None:
        query = query.where(
            or_(AuthSession.terminal_id.is_(None), AuthSession.terminal_id.not_in(list(outside)))
        )
    result = session.execute(
        query.values(revoked_at=now, revoked_reason=reason[:32]).execution_options(
            synchronize_session="fetch"
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def prune(session: Session, now: datetime) -> None:
    """Forget sessions that ended long ago (the audit log keeps their story)."""
    session.execute(delete(AuthSession).where(AuthSession.expires_at < now - KEEP_ENDED))


def of_user(
    session: Session, user_id: int, now: datetime, include_ended: bool = False
) -> list[AuthSession]:
    """A user's sessions, newest first: the live ones, or also those that ended lately."""
    query = select(AuthSession).where(AuthSession.user_id == user_id)
    if include_ended:
        query = query.where(AuthSession.expires_at > now - KEEP_ENDED)
    else:
        query = query.where(AuthSession.revoked_at.is_(None), AuthSession.expires_at > now)
    return list(session.execute(query.order_by(AuthSession.created_at.desc()).limit(100)).scalars())


def check_media_link(
    session: Session, user_id: int, session_id: str | None, issued_at: datetime, now: datetime
) -> None:
    """A media link is good while the session it was issued in lives. A link that names no
    session needs a live session of its user that existed when the link was issued."""
    if session_id is not None:
        row = live(session, session_id, now)
        if row.user_id != user_id:
            raise AuthError("media link does not belong to its session")
        return
    found = session.execute(
        select(AuthSession.id)
        .where(
            AuthSession.user_id == user_id,
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > now,
            AuthSession.created_at <= issued_at,
        )
        .limit(1)
    ).first()
    if found is None:
        raise AuthError("media link of a session that has ended: sign in again")
