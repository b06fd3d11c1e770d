"""The sign-in, refresh and sign-out procedures. Each commits its own transaction, failures
included: the attempt, the lockout and the audit line stay even when the caller gets an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from central import audit
from central.auth import sessions, terminals, throttle
from central.auth.sessions import RefreshReused, Tokens
from central.auth.throttle import AccountLocked, ClientRateLimited, LoginPolicy
from central.db.models import AuthSession, Terminal, User
from central.db.types import utcnow
from central.security import burn_time, decode_refresh_token
from central.settings import Settings
from central.users import USERNAME, authenticate
from wire.errors import AuthError


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str
    client: str  # the requester's address
    terminal_secret: str | None = None


@dataclass(frozen=True)
class SignedIn:
    user: User
    tokens: Tokens
    terminal: Terminal | None


def _refuse_throttled(
    session: Session, policy: LoginPolicy, creds: Credentials, now: datetime
) -> None:
    """Raise (after committing its trace) if the address or the user name is throttled."""
    name, client = throttle.clip(creds.username), creds.client
    try:
        throttle.check_client(session, policy, client, now)
        throttle.check_lock(session, creds.username, now)
    except ClientRateLimited as exc:
        if exc.first:
            detail = {"retry_after": exc.retry_after}
            audit.append(session, name or "-", "auth.rate_limited", client, detail)
        session.commit()
        raise
    except AccountLocked:
        throttle.record(session, creds.username, client, "locked", now)
        audit.append(
            session, name or "-", "auth.fail", name, {"reason": "locked", "client": client}
        )
        session.commit()
        raise


def sign_in(session: Session, settings: Settings, creds: Credentials) -> SignedIn:
    """Check throttling, password and terminal; open a session. ``AuthError`` (or a
    ``LoginThrottled`` with ``retry_after``) on refusal, with the same message whether or not
    the user exists — except a terminal refusal, which only a correct password reaches."""
    policy = LoginPolicy.from_settings(settings)
    now = utcnow()
    _refuse_throttled(session, policy, creds, now)
    name, client = throttle.clip(creds.username), creds.client
    try:
        reason = "credentials"
        if not USERNAME.match(creds.username):  # not a user name: nothing to look up
            burn_time(creds.password)
            raise AuthError("incorrect username or password")
        user = authenticate(session, creds.username, creds.password)
        reason = "terminal"
        terminal = terminals.for_sign_in(session, user, creds.terminal_secret)
    except AuthError as exc:
        throttle.record(session, creds.username, client, "fail", now)
        audit.append(session, name or "-", "auth.fail", name, {"reason": reason, "client": client})
        lock = throttle.after_failure(session, policy, creds.username, now)
        if lock is not None:
            until = lock.locked_until.isoformat()
            detail = {"failures": lock.failures, "until": until, "client": client}
            audit.append(session, name or "-", "auth.lockout", name, detail)
        session.commit()
        if lock is not None:
            retry = int(policy.lockout.total_seconds())
            raise AccountLocked(
                f"{exc}; too many failed sign-ins for this user name: locked, retry in {retry} s",
                retry,
            ) from exc
        raise
    throttle.record(session, user.username, client, "ok", now)
    throttle.prune(session, now)
    sessions.prune(session, now)
    tokens = sessions.open_session(
        session, settings, user, client, terminal.id if terminal else None, now
    )
    detail = {"session": tokens.session_id, "client": client}
    if terminal is not None:
        detail["terminal"] = terminal.name
    audit.append(session, user.username, "auth.login", user.username, detail)
    session.commit()
    return SignedIn(user, tokens, terminal)


def refresh(
    session: Session, settings: Settings, token: str, terminal_secret: str | None, client: str
) -> Tokens:
    """Rotate a refresh token: new access and refresh tokens for the same session."""
    now = utcnow()
    claims = decode_refresh_token(settings.secret(), token)
    row = sessions.live(session, claims.sid, now)
    user = session.get(User, row.user_id)
    if user is None or user.disabled:
        raise AuthError("user is unknown or disabled")
    try:
        sessions.check_current(session, row, token, claims, now)
        if row.terminal_id is not None:
            terminals.check_session_terminal(session, row.terminal_id, terminal_secret)
        tokens = sessions.rotate(session, settings, user, row, token, claims, now)
    except RefreshReused:
        detail = {"client": client, "generation": claims.gen}
        audit.append(session, user.username, "auth.refresh_reuse", row.id, detail)
        session.commit()
        raise
    session.commit()
    return tokens


def sign_out(session: Session, user: User, row: AuthSession, actor: str, reason: str) -> bool:
    """Revoke a session: on logout (``reason`` "logout") or by ``DELETE /auth/sessions/{id}``;
    False if it had already ended."""
    now = utcnow()
    if sessions.state(row, now) != "live":
        return False
    sessions.revoke(session, row, reason, now)
    action = "auth.logout" if reason == "logout" else "session.revoke"
    audit.append(session, actor, action, user.username, {"session": row.id})
    session.commit()
    return True
