"""Append-only, hash-chained audit log: each row's hash covers its canonical JSON and the
previous row's hash, so editing, deleting or reordering a row breaks ``verify_chain``."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, text, update
from sqlalchemy.orm import Session

from central.db.models import Audit
from central.db.types import utcnow

GENESIS = "0" * 64
AUDIT_LOCK_KEY = 727_200  # pg advisory lock serialising appends


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="microseconds")


def row_hash(
    *,
    id: int,
    at: datetime,
    actor: str,
    action: str,
    target: str | None,
    detail: dict[str, Any],
    prev_hash: str,
) -> str:
    """SHA-256 over the canonical JSON (sorted keys, no spaces) of the row plus prev_hash."""
    canonical = json.dumps(
        {
            "id": id,
            "at": _iso(at),
            "actor": actor,
            "action": action,
            "target": target,
            "detail": detail,
            "prev_hash": prev_hash,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _lock_head(session: Session) -> None:
    """Serialise appenders so two writers never chain onto the same head."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": AUDIT_LOCK_KEY})
    else:
        # A write statement takes SQLite's write lock (waiting up to busy_timeout) before we
        # read the head, so a concurrent appender cannot read the same head.
        session.execute(text("DELETE FROM audit WHERE 0 = 1"))


def append(
    session: Session,
    actor: str,
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> Audit:
    """Add one audit row to ``session``'s transaction (the caller commits)."""
    _lock_head(session)
    head = session.execute(select(Audit.hash).order_by(Audit.id.desc()).limit(1)).scalar()
    at = utcnow()
    row = Audit(
        at=at,
        actor=actor[:64],
        action=action,
        target=target,
        detail=detail or {},
        prev_hash=head or GENESIS,
        hash="pending-" + hashlib.sha256(repr((at, actor, action)).encode()).hexdigest()[:56],
    )
    session.add(row)
    session.flush()  # assigns row.id, which the hash covers
    row.hash = row_hash(
        id=row.id,
        at=at,
        actor=row.actor,
        action=action,
        target=target,
        detail=row.detail,
        prev_hash=row.prev_hash,
    )
    session.flush()
    return row


def append_many(
    session: Session, actor: str, lines: Sequence[tuple[str, str | None, dict[str, Any]]]
) -> int:
    """Add ``(action, target, detail)`` lines in three statements, not three per line (bulk
    imports). Chained exactly as ``append`` would; the caller commits."""
    if not lines:
        return 0
    _lock_head(session)
    head = session.execute(select(Audit.id, Audit.hash).order_by(Audit.id.desc()).limit(1)).first()
    at = utcnow()
    tag = "pending-" + secrets.token_hex(12) + "-"
    session.execute(
        insert(Audit),
        [
            {
                "at": at,
                "actor": actor[:64],
                "action": action,
                "target": target,
                "detail": detail,
                "prev_hash": "",
                "hash": f"{tag}{i}",
            }
            for i, (action, target, detail) in enumerate(lines)
        ],
    )
    pending = session.execute(
        select(Audit.id, Audit.hash)
        .where(Audit.id > (head.id if head else 0), Audit.hash.startswith(tag))
        .order_by(Audit.id)
    ).all()
    prev, updates = head.hash if head else GENESIS, []
    for row_id, placeholder in pending:
        action, target, detail = lines[int(placeholder[len(tag) :])]
        digest = row_hash(id=row_id, at=at, actor=actor[:64], action=action, target=target,
                          detail=detail, prev_hash=prev)  # fmt: skip
        updates.append({"id": row_id, "prev_hash": prev, "hash": digest})
        prev = digest
    session.execute(update(Audit), updates)
    return len(updates)


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    rows: int
    first_bad_id: int | None = None
    reason: str = ""


def verify_chain(session: Session) -> ChainReport:
    """Recompute every hash in id order; report the first row that does not fit."""
    prev = GENESIS
    count = 0
    for row in session.execute(select(Audit).order_by(Audit.id)).scalars():
        count += 1
        if row.prev_hash != prev:
            return ChainReport(False, count, row.id, "prev_hash does not match the previous row")
        expected = row_hash(
            id=row.id,
            at=row.at,
            actor=row.actor,
            action=row.action,
            target=row.target,
            detail=row.detail,
            prev_hash=row.prev_hash,
        )
        if row.hash != expected:
            return ChainReport(False, count, row.id, "hash does not match the row's content")
        prev = row.hash
    return ChainReport(True, count)
