"""``central.commands``: queued by the API, claimed once per attempt, resent until answered,
expired, and ended by the edge's answer (or its ``upload_window_failed`` event)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from central import commands
from central.db import Database
from central.db.models import Command
from central.db.types import utcnow
from central.ingest import IngestService
from tests.central_messages import DEVICE, SITE, event_msg
from wire import codec, topics
from wire.errors import WireError
from wire.models import CommandResult

pytest_plugins = ["tests.central_fixtures"]


def _issue(db: Database, **extra: object) -> str:
    with db.session() as session:
        start = utcnow() - timedelta(minutes=5)
        args = commands.window_args("dock1", start, start + timedelta(seconds=30), "why")
        row = commands.issue(session, site=SITE, device=DEVICE, kind="upload_window", args=args,
                             issued_by="nat", camera="dock1", **extra)  # type: ignore[arg-type]  # fmt: skip
        session.commit()
        return row.id


def _row(db: Database, command_id: str) -> Command:
    with db.session() as session:
        row = session.get(Command, command_id)
        assert row is not None
        return row


def _answer(command_id: str, ok: bool, at_offset_s: float = 0, **data: str) -> CommandResult:
    return CommandResult(sent_at=utcnow() + timedelta(seconds=at_offset_s), clock_synced=True,
                         id=command_id, ok=ok, detail="d", data=data)  # fmt: skip


def test_a_command_is_claimed_once_then_resent_until_answered(central_db: Database) -> None:
    command_id = _issue(central_db)
    now = utcnow()
    with central_db.session() as session:
        first = commands.claim_due(session, now)
        again = commands.claim_due(session, now)  # the same moment: already claimed
        session.commit()
    assert [(t, m.id, m.kind) for t, m in first] == [
        (topics.down(SITE, DEVICE, "cmd"), command_id, "upload_window")
    ]
    assert first[0][1].args["camera"] == "dock1" and again == []
    later = now + timedelta(seconds=commands.RESEND_S + 1)
    with central_db.session() as session:
        resent = commands.claim_due(session, later)
        session.commit()
    assert [m.id for _, m in resent] == [command_id]
    assert _row(central_db, command_id).attempts == 2


def test_an_answer_ends_the_command_and_an_older_one_is_ignored(
    central_db: Database, ingest: IngestService
) -> None:
    command_id = _issue(central_db)
    topic = topics.up(SITE, DEVICE, "cmd-result")
    ingest.handle(topic, codec.encode(_answer(command_id, True, 0, file_id="F1", state="queued")))
    row = _row(central_db, command_id)
    assert (row.state, row.ok, row.file_id) == ("done", True, "F1")
    ingest.handle(topic, codec.encode(_answer(command_id, False, -60)))  # an older answer
    assert _row(central_db, command_id).state == "done"
    with central_db.session() as session:
        assert commands.claim_due(session, utcnow() + timedelta(minutes=1)) == []


def test_another_devices_answer_changes_nothing(
    central_db: Database, ingest: IngestService
) -> None:
    command_id = _issue(central_db)
    other = topics.up(SITE, "edge-other", "cmd-result")
    ingest.handle(other, codec.encode(_answer(command_id, False)))
    assert _row(central_db, command_id).state == "queued"


def test_a_window_the_box_could_not_cut_fails_the_request(
    central_db: Database, ingest: IngestService
) -> None:
    command_id = _issue(central_db)
    topic = topics.up(SITE, DEVICE, "cmd-result")
    ingest.handle(topic, codec.encode(_answer(command_id, True, -5, file_id="F1")))
    failed = event_msg(seq=1, kind="upload_window_failed", camera="dock1", at=utcnow())
    data = {"command_id": command_id, "file_id": "F1", "reason": "nothing recorded"}
    ingest.handle(topics.up(SITE, DEVICE, "event"),
                  codec.encode(failed.model_copy(update={"data": data})))  # fmt: skip
    row = _row(central_db, command_id)
    assert (row.state, row.ok) == ("failed", False)
    assert row.detail is not None and "nothing recorded" in row.detail


def test_unanswered_commands_expire(central_db: Database) -> None:
    command_id = _issue(central_db, ttl_s=60)
    with central_db.session() as session:
        assert commands.expire(session, utcnow() + timedelta(seconds=61)) == 1
        assert commands.claim_due(session, utcnow() + timedelta(seconds=61)) == []
        session.commit()
    assert _row(central_db, command_id).state == "expired"


@pytest.mark.parametrize(
    ("seconds", "reason", "message"),
    [(0, None, "end must be after start"), (1801, None, "too long"), (60, "x" * 201, "reason")],
)
def test_window_args_are_checked_as_the_box_checks_them(
    seconds: int, reason: str | None, message: str
) -> None:
    start = utcnow()
    with pytest.raises(WireError, match=message):
        commands.window_args("dock1", start, start + timedelta(seconds=seconds), reason)
