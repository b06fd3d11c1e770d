"""Failed sign-ins lock a user name; too many requests from one address are refused.

Both count rows of ``login_attempts`` in the database, so every API process agrees. A user
name is locked whether or not such a user exists, so a lock tells nothing about accounts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from central.db.models import LoginAttempt, LoginLock
from central.settings import Settings
from wire.errors import AuthError

COUNTED = ("ok", "fail", "locked")  # what the per-address limit counts ("limited" is not)
KEEP_ATTEMPTS = timedelta(days=2)
FIELD_CHARS = 64


class LoginThrottled(AuthError):
    """A sign-in refused before the password was checked; ``retry_after`` in seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AccountLocked(LoginThrottled):
    """Too many failed sign-ins for this user name."""


class ClientRateLimited(LoginThrottled):
    """Too many sign-in requests from this address; ``first`` for the first refusal of a
    window (the one worth an audit line)."""

    def __init__(self, message: str, retry_after: int, first: bool) -> None:
        super().__init__(message, retry_after)
        self.first = first


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int
    failure_window: timedelta
    lockout: timedelta
    client_limit: int
    client_window: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginPolicy:
        return cls(
            max_failures=settings.login_max_failures,
            failure_window=timedelta(minutes=settings.login_failure_window_minutes),
            lockout=timedelta(minutes=settings.login_lockout_minutes),
            client_limit=settings.login_rate_limit,
            client_window=timedelta(seconds=settings.login_rate_window_s),
        )


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


def clip(value: str) -> str:
    """User names and addresses as stored: the column width, no NUL (PostgreSQL text)."""
    return value[:FIELD_CHARS].replace("\x00", "\ufffd")


def record(session: Session, username: str, client: str, outcome: str, now: datetime) -> None:
    session.add(LoginAttempt(at=now, username=clip(username), client=clip(client), outcome=outcome))
    session.flush()


def check_client(session: Session, policy: LoginPolicy, client: str, now: datetime) -> None:
    """Raise ``ClientRateLimited`` when ``client`` used up its requests of the window."""
    since = now - policy.client_window
    recent = (LoginAttempt.client == clip(client), LoginAttempt.at > since)
    count, oldest = session.execute(
        select(func.count(), func.min(LoginAttempt.at)).where(
            *recent, LoginAttempt.outcome.in_(COUNTED)
        )
    ).one()
    if count < policy.client_limit:
        return
    already = session.execute(
        select(LoginAttempt.id).where(*recent, LoginAttempt.outcome == "limited").limit(1)
    ).first()
    if already is None:
        record(session, "", client, "limited", now)
    retry = _seconds_until(oldest + policy.client_window, now)
    raise ClientRateLimited(
        f"too many sign-in requests from {clip(client)}: retry in {retry} s", retry, already is None
    )


def active_lock(session: Session, username: str, now: datetime) -> LoginLock | None:
    return session.execute(
        select(LoginLock)
        .where(
            LoginLock.username == clip(username),
            LoginLock.cleared_at.is_(None),
            LoginLock.locked_until > now,
        )
        .execution_options(populate_existing=True)
    ).scalar()


def check_lock(session: Session, username: str, now: datetime) -> None:
    """Raise ``AccountLocked`` while ``username`` is locked."""
    lock = active_lock(session, username, now)
    if lock is not None:
        retry = _seconds_until(lock.locked_until, now)
        raise AccountLocked(
            f"too many failed sign-ins for this user name: locked, retry in {retry} s", retry
        )


def _failures(session: Session, policy: LoginPolicy, username: str, now: datetime) -> int:
    """Failures in the window since the last success, lock or unlock of ``username``."""
    name = clip(username)
    marks = [now - policy.failure_window]
    last_ok = session.execute(
        select(func.max(LoginAttempt.at)).where(
            LoginAttempt.username == name, LoginAttempt.outcome == "ok"
        )
    ).scalar()
    lock = session.execute(
        select(LoginLock.locked_at, LoginLock.cleared_at).where(LoginLock.username == name)
    ).first()
    marks += [m for m in (last_ok, *(lock or ())) if m is not None]
    return session.execute(
        select(func.count()).where(
            LoginAttempt.username == name,
            LoginAttempt.outcome == "fail",
            LoginAttempt.at > max(marks),
        )
    ).scalar_one()


def _upsert_lock(session: Session, values: dict[str, object]) -> None:
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(LoginLock).values(**values)
    changed = {key: statement.excluded[key] for key in values if key != "username"}
    session.execute(statement.on_conflict_do_update(index_elements=["username"], set_=changed))


def after_failure(
    session: Session, policy: LoginPolicy, username: str, now: datetime
) -> LoginLock | None:
    """Count the failure just recorded; lock the user name when it reaches the limit."""
    failures = _failures(session, policy, username, now)
    if failures < policy.max_failures:
        return None
    values: dict[str, object] = {
        "username": clip(username),
        "locked_at": now,
        "locked_until": now + policy.lockout,
        "failures": failures,
        "cleared_at": None,
        "cleared_by": None,
    }
    _upsert_lock(session, values)
    return active_lock(session, username, now)


def unlock(session: Session, username: str, by: str, now: datetime) -> bool:
    """Clear the lock of ``username`` and forget its failures; True if it was locked."""
    was_locked = active_lock(session, username, now) is not None
    changed = session.execute(
        update(LoginLock)
        .where(LoginLock.username == clip(username))
        .values(cleared_at=now, cleared_by=by)
    )
    if not changed.rowcount:  # type: ignore[attr-defined]
        _upsert_lock(
            session,
            {
                "username": clip(username),
                "locked_at": now,
                "locked_until": now,
                "failures": 0,
                "cleared_at": now,
                "cleared_by": by,
            },
        )
    return was_locked


def prune(session: Session, now: datetime) -> None:
    """Forget attempts far older than any window."""
    session.execute(delete(LoginAttempt).where(LoginAttempt.at < now - KEEP_ATTEMPTS))
