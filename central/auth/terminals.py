"""Registered monitoring terminals (regulation Art. 7) and which users are bound to them.

A terminal's secret is printed once when it is added and kept only as a SHA-256 (it is 256
random bits, so the digest needs no salt or stretching). A user bound to one or more terminals
signs in only when the request carries the secret of one of them; revoking a terminal or a
binding ends the sessions opened from it.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from central import audit
from central.auth import sessions
from central.db.models import Terminal, User, UserTerminal
from central.security import token_digest
from wire.errors import AuthError, StoreError

NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
SECRET_PREFIX = "rwt_"
MAX_SECRET_CHARS = 200


class TerminalRefused(AuthError):
    """A bound user's sign-in or refresh came without a valid secret of their terminals."""


@dataclass(frozen=True)
class TerminalInfo:
    terminal: Terminal
    users: list[str]


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _terminal(session: Session, name: str) -> Terminal:
    terminal = session.execute(select(Terminal).where(Terminal.name == name)).scalar()
    if terminal is None:
        raise StoreError(f"no terminal {name!r}")
    return terminal


def _user(session: Session, username: str) -> User:
    user = session.execute(select(User).where(User.username == username)).scalar()
    if user is None:
        raise StoreError(f"no user {username!r}")
    return user


def add_terminal(
    session: Session, name: str, org_note: str | None, actor: str
) -> tuple[Terminal, str]:
    """Register a terminal; return it and its secret (shown once, never stored)."""
    if not NAME.match(name):
        raise StoreError(f"terminal name {name!r}: use 1-64 characters [A-Za-z0-9_.@-]")
    if org_note is not None and len(org_note) > 200:
        raise StoreError("terminal org note: at most 200 characters")
    if session.execute(select(Terminal.id).where(Terminal.name == name)).first():
        raise StoreError(f"terminal {name!r} already exists (revoked ones keep their name)")
    secret = new_secret()
    terminal = Terminal(
        name=name, org_note=org_note, secret_hash=token_digest(secret), created_by=actor[:64]
    )
    session.add(terminal)
    try:
        session.flush()
    except IntegrityError as exc:
        raise StoreError(f"terminal {name!r} already exists") from exc
    audit.append(session, actor, "terminal.add", name, {"org_note": org_note})
    return terminal, secret


def list_terminals(session: Session) -> list[TerminalInfo]:
    rows = session.execute(
        select(UserTerminal.terminal_id, User.username)
        .join(User, User.id == UserTerminal.user_id)
        .order_by(User.username)
    ).all()
    bound: dict[int, list[str]] = {}
    for terminal_id, username in rows:
        bound.setdefault(terminal_id, []).append(username)
    terminals = session.execute(select(Terminal).order_by(Terminal.name)).scalars()
    return [TerminalInfo(t, bound.get(t.id, [])) for t in terminals]


def names(session: Session, ids: set[int | None]) -> dict[int | None, str]:
    """Terminal names by id, for the ids given (``None`` is skipped)."""
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    rows = session.execute(select(Terminal.id, Terminal.name).where(Terminal.id.in_(wanted)))
    return {terminal_id: name for terminal_id, name in rows}


def revoke_terminal(session: Session, name: str, actor: str, now: datetime) -> int:
    """Revoke a terminal and end the sessions opened from it; return how many ended."""
    terminal = _terminal(session, name)
    if terminal.revoked_at is not None:
        raise StoreError(f"terminal {name!r} was already revoked at {terminal.revoked_at:%F %T}Z")
    terminal.revoked_at = now
    ended = sessions.revoke_all(session, "terminal_revoked", now, terminal_id=terminal.id)
    audit.append(session, actor, "terminal.revoke", name, {"sessions_ended": ended})
    return ended


def bind(session: Session, username: str, terminal_name: str, actor: str, now: datetime) -> int:
    """Bind a user to a terminal; end the user's sessions opened from anywhere but their
    bound terminals, and return how many."""
    user, terminal = _user(session, username), _terminal(session, terminal_name)
    if terminal.revoked_at is not None:
        raise StoreError(f"terminal {terminal_name!r} is revoked")
    if session.get(UserTerminal, (user.id, terminal.id)) is not None:
        raise StoreError(f"user {username!r} is already bound to terminal {terminal_name!r}")
    session.add(UserTerminal(user_id=user.id, terminal_id=terminal.id, bound_by=actor[:64]))
    session.flush()
    bound = session.execute(
        select(UserTerminal.terminal_id).where(UserTerminal.user_id == user.id)
    ).scalars()
    ended = sessions.revoke_all(session, "terminal_bound", now, user_id=user.id, outside=set(bound))
    detail = {"terminal": terminal_name, "sessions_ended": ended}
    audit.append(session, actor, "terminal.bind", username, detail)
    return ended


def unbind(session: Session, username: str, terminal_name: str, actor: str, now: datetime) -> int:
    """Remove a binding and end the user's sessions from that terminal; return how many."""
    user, terminal = _user(session, username), _terminal(session, terminal_name)
    binding = session.get(UserTerminal, (user.id, terminal.id))
    if binding is None:
        raise StoreError(f"user {username!r} is not bound to terminal {terminal_name!r}")
    session.delete(binding)
    ended = sessions.revoke_all(
        session, "terminal_unbound", now, user_id=user.id, terminal_id=terminal.id
    )
    detail = {"terminal": terminal_name, "sessions_ended": ended}
    audit.append(session, actor, "terminal.unbind", username, detail)
    return ended


def by_secret(session: Session, secret: str | None) -> Terminal | None:
    """The unrevoked terminal whose secret this is, if any."""
    if not secret or len(secret) > MAX_SECRET_CHARS:
        return None
    return session.execute(
        select(Terminal).where(
            Terminal.secret_hash == token_digest(secret.strip()), Terminal.revoked_at.is_(None)
        )
    ).scalar()


def for_sign_in(session: Session, user: User, secret: str | None) -> Terminal | None:
    """The terminal a sign-in comes from. A bound user must present the secret of one of
    their unrevoked terminals (``TerminalRefused`` otherwise); others may present any."""
    terminal = by_secret(session, secret)
    bound = set(
        session.execute(
            select(UserTerminal.terminal_id).where(UserTerminal.user_id == user.id)
        ).scalars()
    )
    if not bound:
        return terminal
    if terminal is None:
        what = "no terminal secret was sent" if not secret else "the terminal secret is not valid"
        raise TerminalRefused(
            f"this account signs in only from its registered terminals, and {what}"
        )
    if terminal.id not in bound:
        raise TerminalRefused(
            f"this account signs in only from its registered terminals, not from {terminal.name!r}"
        )
    return terminal


def check_session_terminal(session: Session, terminal_id: int, secret: str | None) -> None:
    """A session opened from a terminal refreshes only with that terminal's secret."""
    terminal = by_secret(session, secret)
    if terminal is None or terminal.id != terminal_id:
        raise TerminalRefused(
            "this session was opened from a registered terminal: refresh it from that "
            "terminal (send its secret in X-ReeferWatch-Terminal)"
        )
