"""IngestService.handle_batch: many messages, one transaction, one merged ack per device."""

from __future__ import annotations

import os
from datetime import timedelta

from sqlalchemy import func, select

from central.db import Clip, Database, Device, Event
from central.ingest import IngestService
from tests.central_messages import DEVICE, SITE, event_msg, file_init, fin_for
from wire import codec, topics

pytest_plugins = ["tests.central_fixtures"]

OTHER = "edge-other"


def _events(db: Database) -> int:
    with db.session() as session:
        return int(session.execute(select(func.count()).select_from(Event)).scalar_one())


def _event(device: str, seq: int) -> tuple[str, bytes, str]:
    msg = event_msg(seq=seq)
    return topics.up(SITE, device, "event"), codec.encode(msg), msg.id


def test_one_batch_commits_every_event_and_merges_acks_per_device(
    ingest: IngestService, central_db: Database
) -> None:
    sent = [_event(DEVICE, seq) for seq in range(1, 31)] + [
        _event(OTHER, seq) for seq in range(1, 11)
    ]
    out = ingest.handle_batch([(t, p) for t, p, _ in sent])

    assert _events(central_db) == 40
    by_topic = {topic: ack for topic, ack in out}
    assert len(out) == 2  # one AckMessage per device, not one per message
    assert by_topic[topics.down(SITE, DEVICE, "ack")].events == [i for *_, i in sent[:30]]
    assert by_topic[topics.down(SITE, OTHER, "ack")].events == [i for *_, i in sent[30:]]
    assert ingest.metrics.batches == 1 and ingest.metrics.batched_messages == 40
    with central_db.session() as session:
        device = session.get(Device, (SITE, DEVICE))
        assert device is not None and device.last_seq == 30
        assert device.seq_received == [[1, 31]] and not device.seq_gaps


def test_a_redelivered_batch_stores_nothing_twice(
    ingest: IngestService, central_db: Database
) -> None:
    sent = [_event(DEVICE, seq) for seq in range(1, 6)]
    batch = [(t, p) for t, p, _ in sent]
    ingest.handle_batch(batch + batch[:2])  # duplicates inside one batch
    out = ingest.handle_batch(batch)  # and the whole batch again
    assert _events(central_db) == 5
    assert out[0][1].events == [i for *_, i in sent]


def test_a_malformed_message_costs_only_itself(ingest: IngestService, central_db: Database) -> None:
    good = [_event(DEVICE, seq) for seq in range(1, 5)]
    batch = [(t, p) for t, p, _ in good]
    batch.insert(2, (topics.up(SITE, DEVICE, "event"), b'{"not": "an event"}'))
    batch.insert(3, ("rw/v1/bad site/x/up/event", b"{}"))
    out = ingest.handle_batch(batch)
    assert _events(central_db) == 4
    assert out[0][1].events == [i for *_, i in good]
    assert ingest.metrics.errors["wire"] == 2


def test_a_file_in_one_batch_is_stored_and_acked_once_as_complete(
    ingest: IngestService, central_db: Database
) -> None:
    data = os.urandom(10_000)
    init = file_init(data, seq=1)
    batch = [(topics.file_init(SITE, DEVICE, init.file_id), codec.encode(init))]
    batch += [
        (topics.file_chunk(SITE, DEVICE, init.file_id, off), data[off : off + 1024])
        for off in range(0, len(data), 1024)
    ]
    batch.append((topics.file_fin(SITE, DEVICE, init.file_id), codec.encode(fin_for(init))))
    out = ingest.handle_batch(batch)

    assert len(out) == 1 and len(out[0][1].files) == 1  # the last FileAck says it all
    ack = out[0][1].files[0]
    assert ack.file_id == init.file_id and ack.complete
    with central_db.session() as session:
        clip = session.get(Clip, init.file_id)
    assert clip is not None and clip.sha256 == init.sha256
    assert ingest.blobs.path(init.sha256).read_bytes() == data


def test_chunks_of_a_file_in_progress_ack_the_cumulative_ranges(
    ingest: IngestService,
) -> None:
    data = os.urandom(8192)
    init = file_init(data, seq=1)
    ingest.handle(topics.file_init(SITE, DEVICE, init.file_id), codec.encode(init))
    out = ingest.handle_batch(
        [
            (topics.file_chunk(SITE, DEVICE, init.file_id, off), data[off : off + 1024])
            for off in (0, 1024, 3072)
        ]
    )
    assert [list(r) for r in out[0][1].files[0].ranges] == [[0, 2048], [3072, 4096]]


def test_a_clip_gets_its_retention_class_from_the_events_it_backs(
    ingest: IngestService, central_db: Database
) -> None:
    reject, mark = event_msg(seq=1), event_msg(seq=2, kind="mark")
    inits = []
    for seq, event in ((3, reject), (4, mark)):
        data = os.urandom(2048)
        init = file_init(data, seq=seq, event_ids=[event.id])
        inits.append(init)
        batch = [(topics.up(SITE, DEVICE, "event"), codec.encode(event))]  # one batch with it
        batch.append((topics.file_init(SITE, DEVICE, init.file_id), codec.encode(init)))
        batch += [
            (topics.file_chunk(SITE, DEVICE, init.file_id, off), data[off : off + 1024])
            for off in (0, 1024)
        ]
        batch.append((topics.file_fin(SITE, DEVICE, init.file_id), codec.encode(fin_for(init))))
        ingest.handle_batch(batch)
    with central_db.session() as session:
        anomaly, standard = (session.get(Clip, i.file_id) for i in inits)
    assert anomaly is not None and standard is not None
    assert anomaly.retention_class == "anomaly" and standard.retention_class == "standard"
    for clip, days in ((anomaly, 1096), (standard, 180)):
        assert clip.retain_until is not None
        assert clip.retain_until - clip.received_at == timedelta(days=days)
