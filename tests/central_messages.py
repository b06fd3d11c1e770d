"""Builders of edge messages for the central tests (the fixtures are in central_fixtures)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from central.ingest import IngestService
from tests.keys import TEST_DEVICE_KEY
from wire import codec, topics
from wire.ids import new_ulid
from wire.manifest import GENESIS, ClipManifest, canonical, manifest_hash, sign
from wire.models import EventMessage, FileFin, FileInit

SITE = "site-1"
DEVICE = "edge-1"
TZ = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 27, 8, 0, 0, tzinfo=TZ)


def event_msg(
    seq: int = 1,
    *,
    kind: str = "metal_detector_reject",
    at: datetime = T0,
    camera: str | None = "cam-1",
    event_id: str | None = None,
) -> EventMessage:
    return EventMessage(
        sent_at=at,
        clock_synced=True,
        seq=seq,
        id=event_id or new_ulid(),
        kind=kind,
        occurred_at=at,
        camera=camera,
        source="gpio17",
        data={"line": 2},
    )


def file_init(
    data: bytes,
    *,
    seq: int = 1,
    file_id: str | None = None,
    sha256: str | None = None,
    start: datetime = T0,
    camera: str = "cam-1",
    event_ids: list[str] | None = None,
    chunk_size: int = 1024,
) -> FileInit:
    facts = {
        "file_id": file_id or new_ulid(),
        "name": f"{SITE}_{camera}_20261127T080000+0800.mp4",
        "size": len(data),
        "sha256": sha256 or hashlib.sha256(data).hexdigest(),
        "kind": "clip",
        "camera": camera,
        "start": start,
        "end": start + timedelta(seconds=30),
        "event_ids": event_ids or [],
    }
    body, signature = sign_next(facts)
    return FileInit(
        sent_at=start,
        clock_synced=True,
        seq=seq,
        chunk_size=chunk_size,
        manifest=body,
        signature=signature,
        **facts,  # type: ignore[arg-type]
    )


_chain = {"index": 0, "prev": GENESIS}


def sign_next(
    facts: dict[str, object], key: Ed25519PrivateKey = TEST_DEVICE_KEY
) -> tuple[str, str]:
    """Sign ``facts`` as the next link of the test device's chain (as the edge store does)."""
    _chain["index"] = int(_chain["index"]) + 1
    manifest = ClipManifest(
        site=SITE,
        device=DEVICE,
        index=_chain["index"],
        prev=_chain["prev"],
        created_at=T0,
        **facts,  # type: ignore[arg-type]
    )
    body = canonical(manifest)
    _chain["prev"] = manifest_hash(body)
    return body, sign(body, key)


def fin_for(init: FileInit) -> FileFin:
    return FileFin(file_id=init.file_id, size=init.size, sha256=init.sha256)


def send_event(service: IngestService, msg: EventMessage) -> list[tuple[str, object]]:
    return list(service.handle(topics.up(SITE, DEVICE, "event"), codec.encode(msg)))


def send_file(service: IngestService, init: FileInit, data: bytes, chunk: int = 1024) -> None:
    """Deliver a whole file as an edge would, asserting the final ack is complete."""
    service.handle(topics.file_init(SITE, DEVICE, init.file_id), codec.encode(init))
    for offset in range(0, len(data), chunk):
        service.handle(
            topics.file_chunk(SITE, DEVICE, init.file_id, offset), data[offset : offset + chunk]
        )
    out = service.handle(topics.file_fin(SITE, DEVICE, init.file_id), codec.encode(fin_for(init)))
    assert out and out[0][1].files[0].complete, out
