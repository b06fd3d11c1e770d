"""A user changes their own password: the current one is checked like a sign-in (a wrong one
counts towards the user name's lockout, so a stolen access token cannot guess it), the new
one must be long enough and different, and every other session of the user ends. Commits its
own transaction, refusals included (their trace stays)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from central import audit
from central.auth import sessions, throttle
from central.auth.throttle import AccountLocked, LoginPolicy
from central.db.models import User
from central.db.types import utcnow
from central.security import hash_password, verify_password
from central.settings import Settings
from wire.errors import AuthError


class WrongPassword(AuthError):
    """The current password given was not the user's."""


def change_password(session: Session, settings: Settings, user: User, current_session: str,
                    current: str, new: str, client: str) -> int:  # fmt: skip
    """Set ``user``'s password to ``new``; return how many other sessions ended.
    ``AccountLocked`` while the user name is locked, ``WrongPassword`` for a wrong current
    password (recorded as a failed sign-in), ``AuthError`` for an unacceptable new one."""
    policy, now = LoginPolicy.from_settings(settings), utcnow()
    name = user.username
    throttle.check_lock(session, name, now)
    if not verify_password(user.password_hash, current):
        throttle.record(session, name, client, "fail", now)
        audit.append(session, name, "auth.fail", name, {"reason": "password", "client": client})
        lock = throttle.after_failure(session, policy, name, now)
        if lock is not None:
            until = lock.locked_until.isoformat()
            detail = {"failures": lock.failures, "until": until, "client": client}
            audit.append(session, name, "auth.lockout", name, detail)
        session.commit()
        if lock is not None:
            retry = int(policy.lockout.total_seconds())
            raise AccountLocked(f"wrong current password; locked, retry in {retry} s", retry)
        raise WrongPassword("the current password is wrong")
    if new == current:
        raise AuthError("the new password must differ from the current one")
    user.password_hash = hash_password(new)  # AuthError if too short
    ended = sessions.revoke_all(session, "password changed", now, user_id=user.id,
                                keep=current_session)  # fmt: skip
    audit.append(session, name, "user.password", name, {"sessions_ended": ended, "client": client})
    session.commit()
    return ended
