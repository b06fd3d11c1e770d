"""IngestService.handle against payloads a device should never send: JSON the parser itself
chokes on, and another device writing into (or refusing) this device's transfer."""

from __future__ import annotations

import os

import pytest

from central.db import Database, Transfer
from central.ingest import IngestService
from tests.central_messages import DEVICE, SITE, file_init, fin_for
from wire import codec, topics

pytest_plugins = ["tests.central_fixtures"]

DATA = os.urandom(4096)


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"[" * 5000, id="nested-too-deep"),
        pytest.param(b'{"a":' * 5000, id="objects-nested-too-deep"),
        pytest.param(b'{"v": 1, "seq": ' + b"9" * 5000 + b"}", id="integer-over-digit-limit"),
    ],
)
@pytest.mark.parametrize("kind", ["event", "status", "health", "init", "fin"])
def test_json_the_parser_rejects_is_dropped_as_malformed(
    ingest: IngestService, payload: bytes, kind: str
) -> None:
    # an exception here leaves the message unacknowledged at the broker: enough of them and
    # the broker stops delivering to ingest at all
    topic = {
        "init": topics.file_init(SITE, DEVICE, "f1"),
        "fin": topics.file_fin(SITE, DEVICE, "f1"),
    }.get(kind) or topics.up(SITE, DEVICE, kind)
    assert ingest.handle(topic, payload) == []
    assert ingest.metrics.errors["wire"] == 1


def _transfer(db: Database, file_id: str) -> tuple[str, str, str, list[list[int]]]:
    with db.session() as session:
        row = session.get(Transfer, file_id)
        assert row is not None
        return row.site, row.device, row.state, [list(r) for r in row.ranges]


def test_another_device_cannot_write_into_or_end_this_devices_transfer(
    ingest: IngestService, central_db: Database
) -> None:
    init = file_init(DATA)
    ingest.handle(topics.file_init(SITE, DEVICE, init.file_id), codec.encode(init))
    ingest.handle(topics.file_chunk(SITE, DEVICE, init.file_id, 0), DATA[:1024])
    before = _transfer(central_db, init.file_id)
    assert before == (SITE, DEVICE, "receiving", [[0, 1024]])

    other = "edge-2"
    forged = init.model_copy(update={"size": len(DATA) + 1})
    assert ingest.handle(topics.file_chunk(SITE, other, init.file_id, 0), b"\xee" * 1024) == []
    assert ingest.handle(topics.file_init(SITE, other, init.file_id), codec.encode(forged)) == []
    assert ingest.handle(
        topics.file_fin(SITE, other, init.file_id), codec.encode(fin_for(forged))
    ) == []  # fmt: skip
    assert _transfer(central_db, init.file_id) == before

    # the owner's transfer goes on untouched and completes with the right bytes
    for offset in range(1024, len(DATA), 1024):
        chunk = DATA[offset : offset + 1024]
        ingest.handle(topics.file_chunk(SITE, DEVICE, init.file_id, offset), chunk)
    out = ingest.handle(topics.file_fin(SITE, DEVICE, init.file_id), codec.encode(fin_for(init)))
    assert out and out[0][1].files[0].complete, out
    with open(ingest.blobs.path(init.sha256), "rb") as stored:
        assert stored.read() == DATA
