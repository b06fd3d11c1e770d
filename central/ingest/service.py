"""``IngestService.handle(topic, payload)``: one edge message in, committed rows and the
``down/ack`` messages to publish out. Every handler is idempotent, so redelivery is safe."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from central.blobs import FileBlobStore
from central.db.engine import Database
from central.db.models import Device, Event
from central.db.types import utcnow
from central.ingest.metrics import IngestMetrics
from central.ingest.transfers import TransferHandler
from wire import codec, topics
from wire.errors import StoreError, WireError
from wire.models import AckMessage, EventMessage, HealthMessage, StatusMessage

log = logging.getLogger(__name__)

Outgoing = tuple[str, AckMessage]


def offset_minutes(value: datetime) -> int:
    offset = value.utcoffset()
    assert offset is not None
    return int(offset.total_seconds() // 60)


def touch_device(
    session: Session,
    site: str,
    device: str,
    *,
    clock_synced: bool | None = None,
    seq: int | None = None,
    status: str | None = "online",
    version: str | None = None,
) -> Device:
    """Create or update the devices row of (site, device)."""
    row = session.get(Device, (site, device), with_for_update=True)
    if row is None:
        row = Device(site_id=site, device_id=device, last_seq=0, clock_synced=False)
        session.add(row)
    row.last_seen = utcnow()
    if clock_synced is not None:
        row.clock_synced = clock_synced
    if seq is not None:
        row.last_seq = max(row.last_seq or 0, seq)
    if status is not None:
        row.status = status
    if version is not None:
        row.version = version
    return row


class IngestService:
    """Stateless apart from the database and blob store; safe to call from one worker."""

    def __init__(self, db: Database, blobs: FileBlobStore, metrics: IngestMetrics | None = None):
        self.db = db
        self.blobs = blobs
        self.metrics = metrics or IngestMetrics()
        self.transfers = TransferHandler(blobs, self.metrics)

    def handle(self, topic: str, payload: bytes) -> list[Outgoing]:
        """Process one message; return the acks to publish. Malformed input returns ``[]``."""
        try:
            parsed = topics.parse(topic)
            if parsed.direction != "up":
                raise WireError(f"topic: {topic!r} is not an up topic")
            self.metrics.message(parsed.kind, len(payload))
            try:
                return self._dispatch(parsed, payload)
            except IntegrityError:
                # Another ingest committed the same item first; the retry sees it and no-ops.
                log.info("concurrent insert on %s; retrying once", topic)
                return self._dispatch(parsed, payload)
        except WireError as exc:
            self.metrics.error("wire")
            log.warning("dropped malformed message on %s: %s", topic, exc)
            return []
        except SQLAlchemyError as exc:
            self.metrics.error("store")
            raise StoreError(f"database refused message on {topic}: {exc}") from exc
        except OSError as exc:
            self.metrics.error("disk")
            raise StoreError(f"disk refused message on {topic}: {exc}") from exc

    def _dispatch(self, topic: topics.Topic, payload: bytes) -> list[Outgoing]:
        with self.db.session() as session:
            if topic.kind == "event":
                out = self._event(session, topic, codec.decode(EventMessage, payload))
            elif topic.kind == "status":
                out = self._status(session, topic, codec.decode(StatusMessage, payload))
            elif topic.kind == "health":
                out = self._health(session, topic, codec.decode(HealthMessage, payload))
            elif topic.kind.startswith("file-"):
                out = self.transfers.handle(session, topic, payload)
            else:
                log.info(
                    "ignoring %s from %s/%s (not handled yet)", topic.kind, topic.site, topic.device
                )
                return []
            session.commit()
        return [(topics.down(topic.site, topic.device, "ack"), ack) for ack in out]

    def _event(self, session: Session, topic: topics.Topic, msg: EventMessage) -> list[AckMessage]:
        exists = session.execute(select(Event.id).where(Event.id == msg.id)).scalar()
        if exists is None:
            session.add(
                Event(
                    id=msg.id,
                    site=topic.site,
                    device=topic.device,
                    seq=msg.seq,
                    kind=msg.kind,
                    occurred_at=msg.occurred_at,
                    occurred_offset_min=offset_minutes(msg.occurred_at),
                    camera=msg.camera,
                    source=msg.source,
                    data=dict(msg.data),
                    clock_synced=msg.clock_synced,
                    received_at=utcnow(),
                )
            )
        else:
            log.debug("event %s already stored", msg.id)
        touch_device(session, topic.site, topic.device, clock_synced=msg.clock_synced, seq=msg.seq)
        return [AckMessage(sent_at=datetime.now(timezone.utc), events=[msg.id])]

    def _status(
        self, session: Session, topic: topics.Topic, msg: StatusMessage
    ) -> list[AckMessage]:
        touch_device(
            session,
            topic.site,
            topic.device,
            clock_synced=msg.clock_synced,
            status=msg.state,
            version=msg.version,
        )
        return []

    def _health(
        self, session: Session, topic: topics.Topic, msg: HealthMessage
    ) -> list[AckMessage]:
        touch_device(session, topic.site, topic.device, clock_synced=msg.clock_synced)
        return []
