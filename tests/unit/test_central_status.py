"""Online status and the sequence-gap alarm through ``IngestService.handle``, clock injected."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from central.blobs import FileBlobStore
from central.db import Alarm, Database, Device
from central.ingest import IngestService
from tests.central_messages import DEVICE, SITE, event_msg, file_init, send_event
from wire import codec, topics
from wire.models import HealthMessage, StatusMessage

pytest_plugins = ["tests.central_fixtures"]

T = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self) -> None:
        self.now = T

    def __call__(self) -> datetime:
        return self.now


def _service(db: Database, blobs: FileBlobStore, clock: Clock) -> IngestService:
    return IngestService(db, blobs, seq_gap_grace_s=300, health_interval_s=60, clock=clock)


def _alarms(db: Database) -> list[tuple[int, int, bool]]:
    with db.session() as session:
        rows = session.scalars(select(Alarm).order_by(Alarm.id)).all()
        return [(a.detail["from"], a.detail["to"], a.cleared_at is not None) for a in rows]


def _device(db: Database) -> Device:
    with db.session() as session:
        row = session.get(Device, (SITE, DEVICE))
        assert row is not None
        session.expunge(row)
        return row


def test_gap_alarm_after_grace_and_cleared_when_filled(
    central_db: Database, blobs: FileBlobStore
) -> None:
    clock = Clock()
    ingest = _service(central_db, blobs, clock)
    for seq in (1, 2, 5, 6):
        send_event(ingest, event_msg(seq=seq))
    clock.now += timedelta(seconds=299)
    ingest.check()
    assert _alarms(central_db) == []  # within the grace period: items arrive out of order
    clock.now += timedelta(seconds=2)
    ingest.check()
    assert _alarms(central_db) == [(3, 4, False)]
    ingest.check()
    assert _alarms(central_db) == [(3, 4, False)]  # raised once
    send_event(ingest, event_msg(seq=3))
    assert _alarms(central_db) == [(3, 4, False)]  # half filled: still open
    init = file_init(b"x" * 10, seq=4)
    ingest.handle(topics.file_init(SITE, DEVICE, init.file_id), codec.encode(init))
    assert _alarms(central_db) == [(3, 4, True)]
    assert _device(central_db).seq_gaps == []


def test_a_gap_filled_within_grace_raises_nothing(
    central_db: Database, blobs: FileBlobStore
) -> None:
    clock = Clock()
    ingest = _service(central_db, blobs, clock)
    send_event(ingest, event_msg(seq=2))  # seq 1 (e.g. a clip) still on its way
    clock.now += timedelta(seconds=200)
    send_event(ingest, event_msg(seq=1))
    clock.now += timedelta(seconds=1000)
    ingest.check()
    assert _alarms(central_db) == []


def test_gap_seen_at_arrival_time_not_at_check(central_db: Database, blobs: FileBlobStore) -> None:
    clock = Clock()
    ingest = _service(central_db, blobs, clock)
    send_event(ingest, event_msg(seq=3))
    clock.now += timedelta(seconds=400)
    send_event(ingest, event_msg(seq=4))  # an arrival also evaluates the overdue gap
    assert _alarms(central_db) == [(1, 2, False)]


def _status(ingest: IngestService, state: str) -> None:
    msg = StatusMessage(sent_at=T, clock_synced=True, state=state, version="0.1.0")  # type: ignore[arg-type]
    ingest.handle(topics.up(SITE, DEVICE, "status"), codec.encode(msg))


def test_status_will_and_missed_health(central_db: Database, blobs: FileBlobStore) -> None:
    clock = Clock()
    ingest = _service(central_db, blobs, clock)
    _status(ingest, "online")
    row = _device(central_db)
    assert (row.status, row.version, row.clock_synced) == ("online", "0.1.0", True)
    _status(ingest, "offline")  # the will
    assert _device(central_db).status == "offline"
    _status(ingest, "online")
    clock.now += timedelta(seconds=179)
    ingest.check()
    assert _device(central_db).status == "online"
    clock.now += timedelta(seconds=2)  # three health intervals without a word
    ingest.check()
    assert _device(central_db).status == "offline"
    send_event(ingest, event_msg(seq=1))  # anything from it: online again
    assert _device(central_db).status == "online"
    assert _device(central_db).last_seen == clock.now


def test_health_keeps_a_device_online(central_db: Database, blobs: FileBlobStore) -> None:
    clock = Clock()
    ingest = _service(central_db, blobs, clock)
    _status(ingest, "online")
    for _ in range(5):
        clock.now += timedelta(seconds=60)
        ingest.handle(topics.up(SITE, DEVICE, "health"), _health_payload())
        ingest.check()
    assert _device(central_db).status == "online"


def _health_payload() -> bytes:
    msg = HealthMessage(
        sent_at=T,
        clock_synced=True,
        disk_used_bytes=1,
        disk_quota_bytes=2,
        backlog_items=0,
        backlog_bytes=0,
    )
    return codec.encode(msg)
