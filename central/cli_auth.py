"""``reeferwatch-central`` sign-in administration: ``terminal add|list|revoke`` and
``user unlock|bind-terminal|unbind-terminal|sessions|revoke-sessions``."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from central import audit
from central.auth import sessions, terminals, throttle
from central.db.engine import Database
from central.db.models import User
from central.db.types import utcnow
from central.settings import Settings
from wire.errors import StoreError

ACTOR = "cli"
USER_COMMANDS = ("unlock", "bind-terminal", "unbind-terminal", "sessions", "revoke-sessions")


def add_auth_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    user_sub: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Add the ``terminal`` command and the sign-in subcommands of ``user``."""
    user_sub.add_parser("unlock", help="clear a user name's sign-in lockout").add_argument(
        "username"
    )
    for name, text in (
        ("bind-terminal", "let a user sign in only from bound terminals (adds one)"),
        ("unbind-terminal", "remove a binding and end the sessions opened from it"),
    ):
        parser = user_sub.add_parser(name, help=text)
        parser.add_argument("username")
        parser.add_argument("terminal")
    user_sub.add_parser("sessions", help="a user's live sessions").add_argument("username")
    user_sub.add_parser("revoke-sessions", help="end every session of a user").add_argument(
        "username"
    )

    terminal = sub.add_parser("terminal", help="registered monitoring terminals (Art. 7)")
    terminal_sub = terminal.add_subparsers(dest="terminal_command", required=True)
    add = terminal_sub.add_parser("add", help="register a terminal; prints its secret once")
    add.add_argument("name")
    add.add_argument("--org", default=None, help="a note: the unit and room it belongs to")
    terminal_sub.add_parser("list", help="terminals, their state and bound users")
    terminal_sub.add_parser("revoke", help="revoke a terminal and end its sessions").add_argument(
        "name"
    )


def is_auth_command(args: argparse.Namespace) -> bool:
    return args.command == "terminal" or (
        args.command == "user" and args.user_command in USER_COMMANDS
    )


@contextlib.contextmanager
def _session(settings: Settings) -> Iterator[Session]:
    """A session on the migrated database, committed when the block ends without error."""
    with Database(settings.database_url) as db:
        db.migrate()
        with db.session() as session:
            yield session
            session.commit()


def _user(session: Session, username: str) -> User:
    user = session.execute(select(User).where(User.username == username)).scalar()
    if user is None:
        raise StoreError(f"no user {username!r}")
    return user


def _terminal(session: Session, args: argparse.Namespace) -> None:
    now = utcnow()
    if args.terminal_command == "add":
        terminal, secret = terminals.add_terminal(session, args.name, args.org, ACTOR)
        print(
            f"registered terminal {terminal.name}. Its secret is shown only now; enter it on "
            "that computer (web UI: 登记此终端 / Register this terminal):"
        )
        print(secret)
    elif args.terminal_command == "list":
        for info in terminals.list_terminals(session):
            t = info.terminal
            state = f"revoked {t.revoked_at:%F %T}Z" if t.revoked_at else "active"
            fields = (t.name, state, f"{t.created_at:%F}", t.org_note or "-", ",".join(info.users))
            print("\t".join(fields))
    else:
        ended = terminals.revoke_terminal(session, args.name, ACTOR, now)
        print(f"revoked terminal {args.name}; ended {ended} session(s)")


def _user_command(session: Session, args: argparse.Namespace) -> None:
    now, command = utcnow(), args.user_command
    if command == "unlock":
        was_locked = throttle.unlock(session, args.username, ACTOR, now)
        audit.append(session, ACTOR, "auth.unlock", args.username, {"was_locked": was_locked})
        print(
            f"unlocked {args.username}"
            if was_locked
            else f"{args.username} was not locked (its failed sign-ins are forgotten)"
        )
    elif command == "bind-terminal":
        ended = terminals.bind(session, args.username, args.terminal, ACTOR, now)
        print(
            f"{args.username} now signs in only from bound terminals ({args.terminal} added); "
            f"ended {ended} session(s) opened elsewhere"
        )
    elif command == "unbind-terminal":
        ended = terminals.unbind(session, args.username, args.terminal, ACTOR, now)
        print(f"unbound {args.username} from {args.terminal}; ended {ended} session(s)")
    elif command == "sessions":
        user = _user(session, args.username)
        rows = sessions.of_user(session, user.id, now)
        names = terminals.names(session, {row.terminal_id for row in rows})
        for row in rows:
            times = (row.created_at, row.last_used_at, row.expires_at)
            terminal = names.get(row.terminal_id, "-")
            print("\t".join([row.id, *(f"{t:%F %T}Z" for t in times), row.client, terminal]))
    else:
        user = _user(session, args.username)
        ended = sessions.revoke_all(session, "admin", now, user_id=user.id)
        audit.append(session, ACTOR, "session.revoke", user.username, {"sessions_ended": ended})
        print(f"ended {ended} session(s) of {user.username}")


def run_auth_command(settings: Settings, args: argparse.Namespace) -> int:
    """Run a command ``is_auth_command`` accepted; ``ReeferWatchError`` on failure."""
    with _session(settings) as session:
        if args.command == "terminal":
            _terminal(session, args)
        else:
            _user_command(session, args)
    return 0
