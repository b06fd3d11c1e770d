"""``IngestService.handle(topic, payload)``: one edge message in, committed rows and the
``down/ack`` messages to publish out. Every handler is idempotent, so redelivery is safe."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from central.blobs import FileBlobStore
from central.db.engine import Database
from central.db.models import Alarm, Device, Event, Transfer
from central.db.types import utcnow
from central.ingest import manifests
from central.ingest.metrics import IngestMetrics
from central.ingest.transfers import TransferHandler
from wire import codec, ranges, topics
from wire.errors import StoreError, WireError
from wire.models import AckMessage, EventMessage, FileInit, HealthMessage, StatusMessage

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
    at: datetime | None = None,
) -> Device:
    """Create or update the devices row of (site, device)."""
    row = session.get(Device, (site, device), with_for_update=True)
    if row is None:
        row = Device(site_id=site, device_id=device, last_seq=0, clock_synced=False)
        session.add(row)
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


def container_no(value: object) -> str | None:
    """The container number an event names (loading events), as stored for lookups."""
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip().upper()[:11]


MISSED_HEALTH_INTERVALS = 3
SEQ_GAP = "seq_gap"


class IngestService:
    """Stateless apart from the database and blob store; safe to call from one worker.

    Completeness (DESIGN §5): events and file inits share one per-device sequence; central
    keeps the received seqs as ranges and the gaps between them with when each was first
    seen. A gap older than ``seq_gap_grace_s`` raises an ``alarms`` row (kind ``seq_gap``,
    detail {from, to} inclusive), cleared when every seq in it has arrived. ``check()`` (run
    periodically by the runner) also marks a device offline after three missed health
    intervals without any message."""

    def __init__(
        self,
        db: Database,
        blobs: FileBlobStore,
        metrics: IngestMetrics | None = None,
        *,
        seq_gap_grace_s: float = 300.0,
        health_interval_s: float = 60.0,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.db = db
        self.blobs = blobs
        self.metrics = metrics or IngestMetrics()
        self.transfers = TransferHandler(blobs, self.metrics)
        self.seq_gap_grace_s = seq_gap_grace_s
        self.health_interval_s = health_interval_s
        self.clock = clock

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
            home = manifests.enrolled_elsewhere(session, topic.site, topic.device)
            if home is not None:
                manifests.raise_alarm(
                    session, home, topic.device, manifests.SITE_MISMATCH,
                    {"topic_site": topic.site},
                )  # fmt: skip
                session.commit()
                self.metrics.error("site_mismatch")
                log.warning(
                    "dropped %s: device %s is enrolled for site %s, not %s",
                    topic.kind, topic.device, home, topic.site,
                )  # fmt: skip
                return []
            if topic.kind == "event":
                out = self._event(session, topic, codec.decode(EventMessage, payload))
            elif topic.kind == "status":
                out = self._status(session, topic, codec.decode(StatusMessage, payload))
            elif topic.kind == "health":
                out = self._health(session, topic, codec.decode(HealthMessage, payload))
            elif topic.kind.startswith("file-"):
                self._check_file_owner(session, topic)
                out = self.transfers.handle(session, topic, payload)
                if topic.kind == "file-init":
                    init = codec.decode(FileInit, payload)
                    self._track_seq(session, topic.site, topic.device, init.seq)
            else:
                log.info(
                    "ignoring %s from %s/%s (not handled yet)", topic.kind, topic.site, topic.device
                )
                return []
            session.commit()
        return [(topics.down(topic.site, topic.device, "ack"), ack) for ack in out]

    @staticmethod
    def _check_file_owner(session: Session, topic: topics.Topic) -> None:
        """A file id belongs to the device that announced it: another device's init, chunk
        or fin for it is dropped, never written into (or used to reject) that transfer."""
        row = session.get(Transfer, topic.file_id, with_for_update=True)
        if row is not None and (row.site, row.device) != (topic.site, topic.device):
            raise WireError(
                f"file {topic.file_id} belongs to {row.site}/{row.device}, "
                f"not to {topic.site}/{topic.device}"
            )

    def _event(self, session: Session, topic: topics.Topic, msg: EventMessage) -> list[AckMessage]:
        self.metrics.lag((self.clock() - msg.sent_at).total_seconds())
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
                    container_no=container_no(msg.data.get("container_no")),
                    clock_synced=msg.clock_synced,
                    received_at=utcnow(),
                )
            )
        else:
            log.debug("event %s already stored", msg.id)
        touch_device(
            session,
            topic.site,
            topic.device,
            clock_synced=msg.clock_synced,
            seq=msg.seq,
            at=self.clock(),
        )
        self._track_seq(session, topic.site, topic.device, msg.seq)
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
            at=self.clock(),
        )
        return []

    def _health(
        self, session: Session, topic: topics.Topic, msg: HealthMessage
    ) -> list[AckMessage]:
        touch_device(
            session, topic.site, topic.device, clock_synced=msg.clock_synced, at=self.clock()
        )
        return []

    # -- completeness and liveness ---------------------------------------------------
    def _track_seq(self, session: Session, site: str, device: str, seq: int) -> None:
        row = touch_device(session, site, device, seq=seq, at=self.clock())
        held = [(int(a), int(b)) for a, b in row.seq_received or []]
        row.seq_received = [list(r) for r in ranges.add(held, (seq, seq + 1))]
        self._update_gaps(session, row, self.clock())

    def _update_gaps(self, session: Session, row: Device, at: datetime) -> None:
        """Recompute the gaps, keeping when each was first seen; raise and clear alarms."""
        held = [(int(a), int(b)) for a, b in row.seq_received or []]
        top = held[-1][1] if held else 1
        old = row.seq_gaps or []
        gaps: list[tuple[int, int, str]] = []
        for a, b in ranges.missing([(0, 1), *held], top):  # seqs start at 1
            seen = [
                datetime.fromisoformat(str(g[2])) for g in old if int(g[0]) < b and a < int(g[1])
            ]
            gaps.append((a, b, min(seen, default=at).isoformat()))
        stored = [list(g) for g in gaps]
        if stored != old:
            row.seq_gaps = stored
        alarms = session.scalars(
            select(Alarm).where(
                Alarm.site == row.site_id,
                Alarm.device == row.device_id,
                Alarm.kind == SEQ_GAP,
                Alarm.cleared_at.is_(None),
            )
        ).all()
        for alarm in alarms:
            lo, hi = int(alarm.detail["from"]), int(alarm.detail["to"]) + 1
            if not any(a < hi and lo < b for a, b, _ in gaps):
                alarm.cleared_at = at
                log.info("seq gap %s..%s of %s/%s filled", lo, hi - 1, row.site_id, row.device_id)
        grace = timedelta(seconds=self.seq_gap_grace_s)
        for lo, hi, first in gaps:
            if at - datetime.fromisoformat(str(first)) < grace:
                continue
            if any(
                alarm.cleared_at is None
                and int(alarm.detail["from"]) <= lo
                and hi - 1 <= int(alarm.detail["to"])
                for alarm in alarms
            ):
                continue
            log.warning("seq gap %d..%d of %s/%s", lo, hi - 1, row.site_id, row.device_id)
            session.add(
                Alarm(
                    site=row.site_id,
                    device=row.device_id,
                    kind=SEQ_GAP,
                    detail={"from": lo, "to": hi - 1},
                    raised_at=at,
                )
            )

    def check(self) -> None:
        """Periodic: offline after three missed health intervals; overdue gaps → alarms."""
        at = self.clock()
        silent_since = at - timedelta(seconds=MISSED_HEALTH_INTERVALS * self.health_interval_s)
        with self.db.session() as session:
            for row in session.scalars(select(Device)).all():
                last = row.last_seen
                if row.status == "online" and last is not None and last < silent_since:
                    log.warning(
                        "%s/%s silent since %s: marked offline", row.site_id, row.device_id, last
                    )
                    row.status = "offline"
                if row.seq_gaps:
                    self._update_gaps(session, row, at)
            session.commit()
