"""User accounts: create, disable or enable, change role, authenticate."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from central import audit
from central.auth import sessions, throttle
from central.db.models import ROOT_ORG_ID, User
from central.db.types import utcnow
from central.orgs import unit_by_code
from central.security import ROLES, burn_time, hash_password, verify_password
from wire.errors import AuthError, StoreError

USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


def add_user(
    session: Session, username: str, password: str, role: str, actor: str, org: str | None = None
) -> User:
    """A user under org unit ``org`` (a code; default the national unit)."""
    if not USERNAME.match(username):
        raise AuthError(f"username {username!r}: use 1-64 characters [A-Za-z0-9_.@-]")
    if role not in ROLES:
        raise AuthError(f"role {role!r} is not one of {ROLES}")
    if session.execute(select(User).where(User.username == username)).scalar():
        raise StoreError(f"user {username!r} already exists")
    unit_id = unit_by_code(session, org).id if org is not None else ROOT_ORG_ID
    user = User(
        username=username, password_hash=hash_password(password), role=role, org_unit_id=unit_id
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:
        raise StoreError(f"user {username!r} already exists") from exc
    audit.append(session, actor, "user.add", username, {"role": role, "org": org or "national"})
    return user


def disable_user(session: Session, username: str, actor: str) -> User:
    return set_disabled(session, username, True, actor)


def set_disabled(session: Session, username: str, disabled: bool, actor: str) -> User:
    """Disable (sign-in refused, live sessions ended) or enable a user; audited as
    ``user.disable`` / ``user.enable`` when the state changes."""
    user = session.execute(select(User).where(User.username == username)).scalar()
    if user is None:
        raise StoreError(f"no user {username!r}")
    if user.disabled == disabled:
        return user
    user.disabled = disabled
    detail: dict[str, object] = {}
    if disabled:
        ended = sessions.revoke_all(session, "disabled", utcnow(), user_id=user.id)
        detail = {"sessions_ended": ended}
    audit.append(session, actor, "user.disable" if disabled else "user.enable", username, detail)
    return user


def reset_password(session: Session, user: User, password: str, actor: str) -> int:
    """An administrator gives ``user`` a new password (a forgotten one: nobody can read the
    old); every session of the user ends and a sign-in lockout of the name is lifted (who
    forgot a password has often locked it). Audited as ``user.password_reset``; return how
    many sessions ended. ``AuthError`` for a password under the minimum length."""
    user.password_hash = hash_password(password)
    now = utcnow()
    ended = sessions.revoke_all(session, "password reset", now, user_id=user.id)
    unlocked = throttle.unlock(session, user.username, actor, now)
    detail = {"sessions_ended": ended, "unlocked": unlocked}
    audit.append(session, actor, "user.password_reset", user.username, detail)
    return ended


def set_role(session: Session, user: User, role: str, actor: str) -> User:
    """Give ``user`` another role (Art. 10); audited as ``user.role`` when it changes."""
    if role not in ROLES:
        raise AuthError(f"role {role!r} is not one of {ROLES}")
    if user.role != role:
        audit.append(session, actor, "user.role", user.username, {"role": role, "was": user.role})
        user.role = role
        session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> User:
    """Return the active user or raise ``AuthError`` (the same message for every failure)."""
    user = session.execute(select(User).where(User.username == username)).scalar()
    if user is None:
        burn_time(password)
        raise AuthError("incorrect username or password")
    if not verify_password(user.password_hash, password) or user.disabled:
        raise AuthError("incorrect username or password")
    return user
