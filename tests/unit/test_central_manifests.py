"""Signed clip manifests at central: trust, refusal with evidence and alarm, chain links."""

from __future__ import annotations

import os
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from central.db import Audit, Clip, Database, Event, Transfer
from central.db.models import Alarm, DeviceKey
from central.ingest import IngestService
from central.ingest.manifests import chain_report
from tests.central_messages import (
    DEVICE,
    SITE,
    event_msg,
    file_init,
    fin_for,
    send_event,
    send_file,
)
from tests.keys import TEST_DEVICE_KEY, trust_key
from wire import codec, topics
from wire.manifest import (
    GENESIS,
    ClipManifest,
    canonical,
    manifest_hash,
    parse,
    public_key_text,
    sign,
    verify,
)
from wire.models import FileInit

pytest_plugins = ["tests.central_fixtures"]

DATA = os.urandom(3000)


def _init(service: IngestService, init: FileInit, device: str = DEVICE) -> Any:
    [(_, ack)] = service.handle(topics.file_init(SITE, device, init.file_id), codec.encode(init))
    return ack.files[0]


def _alarms(db: Database, kind: str | None = None) -> list[Alarm]:
    with db.session() as session:
        query = select(Alarm).where(Alarm.cleared_at.is_(None))
        if kind is not None:
            query = query.where(Alarm.kind == kind)
        return list(session.scalars(query))


def _manifest_of(init: FileInit, **changes: Any) -> ClipManifest:
    assert init.manifest is not None
    return parse(init.manifest).model_copy(update=changes)


def _resigned(init: FileInit, manifest: ClipManifest, key: Ed25519PrivateKey) -> FileInit:
    body = canonical(manifest)
    return init.model_copy(update={"manifest": body, "signature": sign(body, key)})


def test_signed_clip_is_stored_verified_and_linked(
    ingest: IngestService, central_db: Database
) -> None:
    init = file_init(DATA)
    send_file(ingest, init, DATA)
    with central_db.session() as session:
        clip = session.get(Clip, init.file_id)
        assert clip is not None and clip.verified
    report = chain_report_for(central_db)
    assert report["links"] == 1 and report["breaks"] == []
    assert _alarms(central_db) == []


def chain_report_for(db: Database, device: str = DEVICE) -> dict[str, Any]:
    with db.session() as session:
        return chain_report(session, SITE, device)


def test_untrusted_device_is_refused_with_alarm_then_accepted_once_trusted(
    ingest: IngestService, central_db: Database
) -> None:
    stranger = "edge-9"
    key = Ed25519PrivateKey.generate()
    init = file_init(DATA)
    init = _resigned(init, _manifest_of(init, device=stranger), key)
    ack = _init(ingest, init, device=stranger)
    assert ack.error and "no trusted signing key" in ack.error and ack.ranges == []
    [alarm] = _alarms(central_db, "untrusted_device")
    assert alarm.device == stranger and alarm.detail["file_id"] == init.file_id
    _init(ingest, init, device=stranger)  # the edge retries: still one open alarm
    assert len(_alarms(central_db, "untrusted_device")) == 1
    with central_db.session() as session:
        audit = session.scalars(select(Audit).where(Audit.action == "transfer.reject")).all()
        assert audit and audit[-1].detail["manifest"] == init.manifest  # evidence kept

    trust_key(central_db, SITE, stranger, key)
    ack = _init(ingest, init, device=stranger)
    assert ack.error is None and ack.ranges == []
    ingest.handle(topics.file_chunk(SITE, stranger, init.file_id, 0), DATA)
    [(_, done)] = ingest.handle(
        topics.file_fin(SITE, stranger, init.file_id), codec.encode(fin_for(init))
    )
    assert done.files[0].complete


@pytest.mark.parametrize(
    "tamper, reason",
    [
        (lambda init: init.model_copy(update={"manifest": None, "signature": None}), "no signed"),
        (
            lambda init: _resigned(init, _manifest_of(init), Ed25519PrivateKey.generate()),
            "signature does not verify",
        ),
        (
            lambda init: _resigned(init, _manifest_of(init, size=1), TEST_DEVICE_KEY),
            "disagrees with the init on size",
        ),
        (
            lambda init: _resigned(init, _manifest_of(init, device="edge-2"), TEST_DEVICE_KEY),
            "manifest names site-1/edge-2",
        ),
        (
            lambda init: init.model_copy(update={"signature": "A" * 88}),
            "signature does not verify",
        ),
    ],
    ids=["unsigned", "foreign-key", "other-size", "other-device", "garbage-signature"],
)
def test_bad_manifests_are_refused_with_alarm_and_nothing_stored(
    ingest: IngestService, central_db: Database, tamper: Any, reason: str
) -> None:
    init = tamper(file_init(DATA))
    ack = _init(ingest, init)
    assert ack.error and reason in ack.error
    [(_, after_chunk)] = ingest.handle(topics.file_chunk(SITE, DEVICE, init.file_id, 0), DATA) or [
        (None, None)
    ]
    assert after_chunk is None  # chunks of a refused file are not taken
    [alarm] = _alarms(central_db, "manifest_invalid")
    assert reason in alarm.detail["reason"]
    with central_db.session() as session:
        assert session.get(Clip, init.file_id) is None
        row = session.get(Transfer, init.file_id)
        assert row is not None and row.state == "rejected"


def test_a_replaced_key_is_no_longer_trusted(ingest: IngestService, central_db: Database) -> None:
    trust_key(central_db, SITE, DEVICE, Ed25519PrivateKey.generate())
    ack = _init(ingest, file_init(DATA))
    assert ack.error and "signature does not verify" in ack.error
    with central_db.session() as session:
        keys = session.scalars(select(DeviceKey).where(DeviceKey.device == DEVICE)).all()
        assert [k.revoked_at is None for k in keys] == [False, True]


def test_fork_and_broken_link_raise_chain_alarms(
    ingest: IngestService, central_db: Database
) -> None:
    first = file_init(DATA)
    send_file(ingest, first, DATA)
    index = parse(first.manifest or "").index
    other = os.urandom(2000)
    fork = file_init(other)
    fork = _resigned(fork, _manifest_of(fork, index=index, prev=GENESIS), TEST_DEVICE_KEY)
    send_file(ingest, fork, other)
    broken = file_init(other[:1000])
    broken = _resigned(
        broken, _manifest_of(broken, index=index + 1, prev="f" * 64), TEST_DEVICE_KEY
    )
    send_file(ingest, broken, other[:1000])
    problems = sorted(a.detail["problem"] for a in _alarms(central_db, "manifest_chain"))
    assert any(p.startswith(f"fork at index {index}") for p in problems), problems
    assert f"index {index + 1} does not follow index {index}" in problems
    report = chain_report_for(central_db)
    assert report["breaks"] == [index + 1]


def test_manifest_signature_round_trip_and_tamper() -> None:
    key = Ed25519PrivateKey.generate()
    body = file_init(DATA).manifest or ""
    signature = sign(body, key)
    assert verify(body, signature, key.public_key())
    assert not verify(body.replace(DEVICE, "edge-0"), signature, key.public_key())
    assert not verify(body, "not base64!", key.public_key())
    assert len(public_key_text(key)) == 44
    assert manifest_hash(body) != manifest_hash(body + " ")


def test_a_device_speaking_for_another_site_is_dropped_with_alarm(
    ingest: IngestService, central_db: Database
) -> None:
    msg = event_msg(seq=1)
    assert ingest.handle(topics.up("site-2", DEVICE, "event"), codec.encode(msg)) == []
    [alarm] = _alarms(central_db, "site_mismatch")
    assert (alarm.site, alarm.device, alarm.detail) == (SITE, DEVICE, {"topic_site": "site-2"})
    with central_db.session() as session:
        assert session.get(Event, msg.id) is None
    assert send_event(ingest, msg)[0][1].events == [msg.id]  # its own site still works
