"""IngestService.handle without a broker: events, devices and the file-transfer protocol."""

from __future__ import annotations

import hashlib
import json
import os

from sqlalchemy import func, select

from central.audit import verify_chain
from central.blobs import FileBlobStore
from central.db import Audit, Clip, ClipEvent, Database, Device, Event, Transfer
from central.db.models import Alarm
from central.ingest import IngestService
from tests.central_messages import (
    DEVICE,
    SITE,
    event_msg,
    file_init,
    fin_for,
    send_event,
    send_file,
)
from wire import codec, topics
from wire.models import FileFin, StatusMessage

pytest_plugins = ["tests.central_fixtures"]

DATA = os.urandom(5000)


def _count(db: Database, model: type) -> int:
    with db.session() as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def _init(service: IngestService, init: object) -> list:
    return service.handle(topics.file_init(SITE, DEVICE, init.file_id), codec.encode(init))


def _chunk(service: IngestService, file_id: str, offset: int, data: bytes) -> list:
    return service.handle(topics.file_chunk(SITE, DEVICE, file_id, offset), data)


def _fin(service: IngestService, fin: FileFin) -> list:
    return service.handle(topics.file_fin(SITE, DEVICE, fin.file_id), codec.encode(fin))


def test_event_is_stored_once_and_acked_every_time(
    ingest: IngestService, central_db: Database
) -> None:
    msg = event_msg(seq=7)
    first = send_event(ingest, msg)
    second = send_event(ingest, msg)
    for out in (first, second):
        assert out == [(topics.down(SITE, DEVICE, "ack"), out[0][1])]
        assert out[0][1].events == [msg.id]
    assert _count(central_db, Event) == 1
    with central_db.session() as session:
        row = session.get(Event, msg.id)
        device = session.get(Device, (SITE, DEVICE))
    assert row is not None and row.occurred_at == msg.occurred_at
    assert row.occurred_offset_min == 480
    assert device is not None and device.last_seq == 7 and device.status == "online"


def test_status_updates_device(ingest: IngestService, central_db: Database) -> None:
    msg = event_msg()
    status = StatusMessage(sent_at=msg.sent_at, clock_synced=False, state="offline", version="1")
    assert ingest.handle(topics.up(SITE, DEVICE, "status"), codec.encode(status)) == []
    with central_db.session() as session:
        device = session.get(Device, (SITE, DEVICE))
    assert device is not None and device.status == "offline" and device.clock_synced is False


def test_malformed_messages_are_dropped_and_counted(
    ingest: IngestService, central_db: Database
) -> None:
    assert ingest.handle(topics.up(SITE, DEVICE, "event"), b"{not json") == []
    assert ingest.handle(topics.up(SITE, DEVICE, "event"), b'{"v": 1, "id": "x"}') == []
    assert ingest.handle("rw/v1/bad site/x/up/event", b"{}") == []
    assert ingest.metrics.errors["wire"] == 3
    assert "reeferwatch_ingest_errors_total" in ingest.metrics.render()
    assert _count(central_db, Event) == 0


def test_chunks_out_of_order_and_duplicated_assemble_the_file(
    ingest: IngestService, central_db: Database, blobs: FileBlobStore
) -> None:
    event = event_msg()
    send_event(ingest, event)
    init = file_init(DATA, event_ids=[event.id])
    ack = _init(ingest, init)[0][1].files[0]
    assert ack.ranges == [] and not ack.complete
    for offset in (4096, 0, 2048, 0, 1024, 3072, 4096):
        ack = _chunk(ingest, init.file_id, offset, DATA[offset : offset + 1024])[0][1].files[0]
    assert ack.ranges == [(0, len(DATA))]
    final = _fin(ingest, fin_for(init))[0][1].files[0]
    assert final.complete and final.ranges == [(0, len(DATA))]
    assert hashlib.sha256(blobs.path(init.sha256).read_bytes()).hexdigest() == init.sha256
    assert not blobs.partial_path(init.file_id).exists()
    with central_db.session() as session:
        clip = session.get(Clip, init.file_id)
        links = session.execute(select(ClipEvent.event_id)).scalars().all()
    assert clip is not None and clip.verified and clip.size == len(DATA)
    assert links == [event.id]


def test_fin_before_all_chunks_acks_current_ranges(ingest: IngestService) -> None:
    init = file_init(DATA)
    _init(ingest, init)
    _chunk(ingest, init.file_id, 0, DATA[:1024])
    ack = _fin(ingest, fin_for(init))[0][1].files[0]
    assert ack.ranges == [(0, 1024)] and not ack.complete and ack.error is None


def test_bad_chunks_are_ignored(ingest: IngestService, central_db: Database) -> None:
    init = file_init(DATA)
    assert _chunk(ingest, init.file_id, 0, DATA[:10]) == []  # no transfer yet
    _init(ingest, init)
    assert _chunk(ingest, init.file_id, len(DATA) - 5, DATA[:10]) == []  # past the end
    with central_db.session() as session:
        assert session.get(Transfer, init.file_id).ranges == []
    assert ingest.metrics.errors["chunk_out_of_bounds"] == 1


def test_bad_hash_is_rejected_and_evidence_kept(
    ingest: IngestService, central_db: Database, blobs: FileBlobStore
) -> None:
    claimed = hashlib.sha256(b"something else").hexdigest()
    init = file_init(DATA, sha256=claimed)
    _init(ingest, init)
    _chunk(ingest, init.file_id, 0, DATA[:3000])
    _chunk(ingest, init.file_id, 3000, DATA[3000:])
    ack = _fin(ingest, fin_for(init))[0][1].files[0]
    assert ack.error and ack.error.startswith("sha256 mismatch") and not ack.complete
    kept = list(blobs.quarantine_dir.glob(f"{init.file_id}.*.part"))
    assert len(kept) == 1 and kept[0].read_bytes() == DATA
    assert not blobs.exists(claimed)
    with central_db.session() as session:
        assert session.get(Transfer, init.file_id).state == "rejected"
        assert session.get(Clip, init.file_id) is None
        line = session.execute(select(Audit).where(Audit.action == "transfer.reject")).scalar()
        assert line is not None and line.target == init.file_id
        assert line.detail["actual"] == hashlib.sha256(DATA).hexdigest()
        assert verify_chain(session).ok
        [alarm] = session.scalars(select(Alarm).where(Alarm.kind == "hash_mismatch")).all()
        assert alarm.detail["file_id"] == init.file_id and alarm.cleared_at is None
    # The edge may start over: init resets the transfer to receiving with nothing held.
    again = _init(ingest, init)[0][1].files[0]
    assert again.ranges == [] and again.error is None
    with central_db.session() as session:
        assert session.get(Transfer, init.file_id).state == "receiving"


def test_fin_that_disagrees_with_init_is_rejected(ingest: IngestService) -> None:
    init = file_init(DATA)
    _init(ingest, init)
    bad = FileFin(file_id=init.file_id, size=init.size + 1, sha256=init.sha256)
    ack = _fin(ingest, bad)[0][1].files[0]
    assert ack.error and "does not match init" in ack.error


def test_second_fin_reacks_complete_and_keeps_one_clip(
    ingest: IngestService, central_db: Database
) -> None:
    init = file_init(DATA)
    send_file(ingest, init, DATA)
    for _ in range(2):
        ack = _fin(ingest, fin_for(init))[0][1].files[0]
        assert ack.complete and ack.ranges == [(0, len(DATA))]
    again = _init(ingest, init)[0][1].files[0]
    assert again.complete
    assert _count(central_db, Clip) == 1


def test_init_after_restart_returns_ranges_held(
    ingest: IngestService, central_db: Database, blobs: FileBlobStore
) -> None:
    init = file_init(DATA)
    _init(ingest, init)
    _chunk(ingest, init.file_id, 1024, DATA[1024:2048])
    _chunk(ingest, init.file_id, 3072, DATA[3072:4096])
    with Database(central_db.url) as db2:  # a new process: nothing shared but disk
        restarted = IngestService(db2, FileBlobStore(blobs.root.parent.parent))
        ack = _init(restarted, init)[0][1].files[0]
        assert ack.ranges == [(1024, 2048), (3072, 4096)]
        for offset in (0, 2048, 4096):
            _chunk(restarted, init.file_id, offset, DATA[offset : offset + 1024])
        assert _fin(restarted, fin_for(init))[0][1].files[0].complete
    assert blobs.path(init.sha256).read_bytes() == DATA


def test_ack_payload_is_valid_wire_json(ingest: IngestService) -> None:
    out = send_event(ingest, event_msg())
    payload = json.loads(codec.encode(out[0][1]))
    assert payload["v"] == 1 and len(payload["events"]) == 1
