"""Commands to edges (DESIGN §5): issued into the ``commands`` table, published by ingest.

The API only writes a row (state ``queued``); every ingest worker, once a second, claims the
rows that are due (``claim_due``) and publishes them on the device's ``down/cmd``. A row is
due while it is ``queued``, or ``sent`` without an answer for ``RESEND_S`` — the edge is
idempotent by id and answers a repeated id again with its recorded result, so a lost command
or a lost answer costs one resend. A claim is an update conditional on the attempt count, so
two workers never both publish one attempt. Answers on ``up/cmd-result`` (``apply_result``)
end the row (``done`` / ``failed``); an older answer never overwrites a newer one. An upload
window that the edge accepted but could not cut arrives as an ``upload_window_failed`` event
(``window_failed``). Rows past ``expires_at`` without an answer become ``expired``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from central.db.models import Command
from central.db.types import utcnow
from wire import topics
from wire.errors import WireError
from wire.ids import new_ulid
from wire.models import MAX_WINDOW_SECONDS, CommandMessage, CommandResult, ScalarValue

log = logging.getLogger(__name__)

RESEND_S = 15.0  # an unanswered command is published again after this long
DEFAULT_TTL_S = 600.0  # a command not answered within this long expires
MAX_REASON_CHARS = 200
WINDOW_FAILED = "upload_window_failed"


def issue(
    session: Session,
    *,
    site: str,
    device: str,
    kind: str,
    args: Mapping[str, ScalarValue],
    issued_by: str,
    camera: str | None = None,
    ttl_s: float = DEFAULT_TTL_S,
) -> Command:
    """Queue a command (committed by the caller); ingest publishes it."""
    now = utcnow()
    row = Command(
        id=new_ulid(), site=site, device=device, camera=camera, kind=kind, args=dict(args),
        issued_by=issued_by, issued_at=now, expires_at=now + timedelta(seconds=ttl_s),
        state="queued", attempts=0,
    )  # fmt: skip
    session.add(row)
    return row


def window_args(camera: str, start: datetime, end: datetime, reason: str | None) -> dict[str, str]:
    """``upload_window`` args, checked as the edge will check them (``WireError`` if not)."""
    length = (end - start).total_seconds()
    if length <= 0:
        raise WireError("end must be after start")
    if length > MAX_WINDOW_SECONDS:
        raise WireError(
            f"a window of {length:g} s is too long: at most {MAX_WINDOW_SECONDS} s "
            f"({MAX_WINDOW_SECONDS // 60} min) per request"
        )
    args = {"camera": camera, "start": start.isoformat(), "end": end.isoformat()}
    if reason:
        if len(reason) > MAX_REASON_CHARS:
            raise WireError(f"reason: at most {MAX_REASON_CHARS} characters")
        args["reason"] = reason
    return args


def expire(session: Session, now: datetime) -> int:
    """Unanswered commands past their expiry become ``expired``; how many."""
    result = session.execute(
        update(Command)
        .where(Command.state.in_(("queued", "sent")), Command.expires_at <= now)
        .values(state="expired")
    )
    return int(getattr(result, "rowcount", 0) or 0)


def claim_due(session: Session, now: datetime) -> list[tuple[str, CommandMessage]]:
    """Claim the commands due for (re)publishing; (topic, message) of each. The caller
    commits, then publishes."""
    resend_before = now - timedelta(seconds=RESEND_S)
    candidates = session.execute(
        select(Command.id, Command.attempts).where(
            Command.expires_at > now,
            or_(
                Command.state == "queued",
                (Command.state == "sent") & (Command.sent_at < resend_before),
            ),
        )
    ).all()
    out: list[tuple[str, CommandMessage]] = []
    for command_id, attempts in candidates:
        claimed = session.execute(
            update(Command)
            .where(
                Command.id == command_id,
                Command.attempts == attempts,
                Command.state.in_(("queued", "sent")),
            )  # fmt: skip
            .values(state="sent", sent_at=now, attempts=attempts + 1)
        )
        if not getattr(claimed, "rowcount", 0):
            continue  # another worker claimed this attempt
        row = session.get(Command, command_id, populate_existing=True)
        if row is None:
            continue
        message = CommandMessage(id=row.id, kind=row.kind, issued_at=row.issued_at,  # type: ignore[arg-type]
                                 expires_at=row.expires_at, args=row.args)  # fmt: skip
        out.append((topics.down(row.site, row.device, "cmd"), message))
    return out


def apply_result(session: Session, site: str, device: str, result: CommandResult) -> None:
    """Record an edge's answer on its command (ignored if it is not that device's)."""
    row = session.get(Command, result.id, with_for_update=True)
    if row is None or (row.site, row.device) != (site, device):
        log.info("answer %s from %s/%s matches no command of that device", result.id, site, device)
        return
    if row.answered_at is not None and result.sent_at < row.answered_at:
        log.info("answer %s from %s is older than the one recorded; ignored", result.id, device)
        return
    row.answered_at = result.sent_at
    row.ok = result.ok
    row.detail = result.detail[:2000]
    row.data = dict(result.data)
    row.state = "done" if result.ok else "failed"
    file_id = result.data.get("file_id")
    if isinstance(file_id, str) and file_id:
        row.file_id = file_id[:64]
    log.info("command %s (%s) on %s/%s: %s %s", row.id, row.kind, site, device,
             row.state, row.detail)  # fmt: skip


def window_failed(
    session: Session, site: str, device: str, at: datetime, data: Mapping[str, object]
) -> None:
    """An accepted upload window the edge could not cut (its ``upload_window_failed``)."""
    command_id = data.get("command_id")
    if not isinstance(command_id, str):
        return
    row = session.get(Command, command_id, with_for_update=True)
    if row is None or (row.site, row.device) != (site, device):
        return
    if row.answered_at is not None and at < row.answered_at:
        return
    row.answered_at = at
    row.ok = False
    row.state = "failed"
    row.detail = f"upload window not cut: {data.get('reason') or 'unknown reason'}"[:2000]
    row.data = {**(row.data or {}), "state": "failed"}
