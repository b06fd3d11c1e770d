"""The state of one ingest transaction (``Batch``): what it looks up in one query each
(``prefetch``), the events it inserts as one statement (``insert_events``), the device-row
update every message makes (``touch_device``) and its acks merged to one per device."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import insert, select, tuple_
from sqlalchemy.orm import Session

from central.db.models import Device, Event
from central.db.types import utcnow
from central.ingest import manifests
from wire import topics
from wire.models import AckMessage, EventMessage, FileAck

Outgoing = tuple[str, AckMessage]


def touch_device(
    session: Session,
    batch: Batch,
    site: str,
    device: str,
    *,
    clock_synced: bool | None = None,
    seq: int | None = None,
    status: str | None = "online",
    version: str | None = None,
    at: datetime | None = None,
) -> Device:
    """Create or update the devices row of (site, device), loaded (locked) once per batch."""
    row = batch.devices.get((site, device))
    if row is None:
        row = session.get(Device, (site, device), with_for_update=True)
        if row is None:
            row = Device(site_id=site, device_id=device, last_seq=0, clock_synced=False)
            session.add(row)
        batch.devices[(site, device)] = row
    row.last_seen = at or utcnow()
    if clock_synced is not None:
        row.clock_synced = clock_synced
    if seq is not None:
        row.last_seq = max(row.last_seq or 0, seq)
    if status is not None:
        row.status = status
    if version is not None:
        row.version = version
    return row


@dataclass
class Batch:
    """What one transaction of ``IngestService`` has looked up or still has to do."""

    homes: dict[tuple[str, str], str | None] = field(default_factory=dict)  # site binding
    devices: dict[tuple[str, str], Device] = field(default_factory=dict)
    seqs: dict[tuple[str, str], list[int]] = field(default_factory=dict)  # to track at commit
    events: set[str] = field(default_factory=set)  # event ids stored by this batch
    stored: set[str] = field(default_factory=set)  # event ids of the batch stored before
    new_events: list[dict[str, object]] = field(default_factory=list)  # rows to insert


def merge_acks(acks: Sequence[Outgoing]) -> list[Outgoing]:
    """One ``AckMessage`` per ack topic: event ids in order, the last ``FileAck`` per file
    (a ``FileAck`` is cumulative, so the last one says everything the earlier ones did)."""
    events: dict[str, dict[str, None]] = {}
    files: dict[str, dict[str, FileAck]] = {}
    for topic, ack in acks:
        events.setdefault(topic, {}).update(dict.fromkeys(ack.events))
        by_file = files.setdefault(topic, {})
        for fa in ack.files:
            by_file.pop(fa.file_id, None)  # re-insert: order of last change
            by_file[fa.file_id] = fa
    now = datetime.now(timezone.utc)
    return [
        (topic, AckMessage(sent_at=now, events=list(ids), files=list(files[topic].values())))
        for topic, ids in events.items()
        if ids or files[topic]
    ]


def insert_events(session: Session, batch: Batch) -> None:
    """The batch's new events so far, as one multi-row INSERT (not an ORM object each)."""
    if batch.new_events:
        session.execute(insert(Event), batch.new_events)
        batch.new_events = []


def prefetch(
    session: Session,
    batch: Batch,
    messages: Sequence[tuple[topics.Topic, bytes]],
    events: dict[int, EventMessage],
) -> None:
    """One query each for what the batch's messages look up: site bindings, device rows
    (locked, as ``touch_device`` would) and which of its events are stored already."""
    keys = {(topic.site, topic.device) for topic, _ in messages}
    batch.homes = manifests.homes_elsewhere(session, keys)
    devices = session.scalars(
        select(Device).where(tuple_(Device.site_id, Device.device_id).in_(keys)).with_for_update()
    )
    batch.devices = {(row.site_id, row.device_id): row for row in devices}
    if events:
        ids = {msg.id for msg in events.values()}
        batch.stored = set(session.scalars(select(Event.id).where(Event.id.in_(ids))))
