"""``IngestService.handle(topic, payload)``: one edge message in, committed rows and the
``down/ack`` messages to publish out. Every handler is idempotent, so redelivery is safe."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from central import commands, loadingsessions
from central.blobs import FileBlobStore
from central.db.engine import Database
from central.db.models import Alarm, Device, Transfer
from central.db.types import offset_minutes, utcnow
from central.ingest import manifests
from central.ingest.batch import (
    Batch,
    Outgoing,
    insert_events,
    merge_acks,
    prefetch,
    touch_device,
)
from central.ingest.metrics import IngestMetrics
from central.ingest.transfers import TransferHandler
from wire import codec, ranges, topics
from wire.errors import StoreError, WireError
from wire.models import (
    AckMessage,
    CommandMessage,
    CommandResult,
    EventMessage,
    FileInit,
    HealthMessage,
    StatusMessage,
)

log = logging.getLogger(__name__)


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
        """Process one message in its own transaction; return the acks to publish.
        Malformed input returns ``[]``."""
        try:
            parsed = topics.parse(topic)
            if parsed.direction != "up":
                raise WireError(f"topic: {topic!r} is not an up topic")
            self.metrics.message(parsed.kind, len(payload))
            try:
                return self._commit([(parsed, payload)])
            except IntegrityError:
                # Another ingest committed the same item first; the retry sees it and no-ops.
                log.info("concurrent insert on %s; retrying once", topic)
                return self._commit([(parsed, payload)])
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

    def handle_batch(self, messages: Sequence[tuple[str, bytes]]) -> list[Outgoing]:
        """Process several messages in one transaction (one commit, one fsync); return the
        acks to publish, merged to one ``AckMessage`` per device.

        The fast path needs every message to be well-formed and unopposed. Anything else —
        a malformed message, a concurrent insert by another worker — rolls the batch back
        and handles its messages one by one with ``handle``, so one bad message never
        costs the others. A database or disk failure raises ``StoreError`` as ``handle``
        does; every handler is idempotent, so retrying the batch is safe."""
        if len(messages) == 1:
            return self.handle(*messages[0])
        try:
            parsed = [(topics.parse(topic), payload) for topic, payload in messages]
            if any(t.direction != "up" for t, _ in parsed):
                raise WireError("batch holds a topic that is not an up topic")
            out = self._commit(parsed)
        except (WireError, IntegrityError) as exc:
            log.info("batch of %d handled one by one (%s)", len(messages), exc)
            return merge_acks([ack for m in messages for ack in self.handle(*m)])
        except SQLAlchemyError as exc:
            self.metrics.error("store")
            raise StoreError(f"database refused a batch of {len(messages)}: {exc}") from exc
        except OSError as exc:
            self.metrics.error("disk")
            raise StoreError(f"disk refused a batch of {len(messages)}: {exc}") from exc
        for topic, payload in parsed:
            self.metrics.message(topic.kind, len(payload))
        return out

    def _commit(self, messages: Sequence[tuple[topics.Topic, bytes]]) -> list[Outgoing]:
        """Apply ``messages`` in one session and commit; the merged acks."""
        batch = Batch()
        decoded = {
            i: codec.decode(EventMessage, payload)
            for i, (topic, payload) in enumerate(messages)
            if topic.kind == "event"
        }
        with self.db.session() as session:
            prefetch(session, batch, messages, decoded)
            acks: list[Outgoing] = []
            for i, (topic, payload) in enumerate(messages):
                event = decoded.get(i)
                if event is not None:
                    out = self._dispatch_event(session, batch, topic, event)
                else:
                    insert_events(session, batch)  # a file may name them
                    out = self._dispatch(session, batch, topic, payload)
                down = topics.down(topic.site, topic.device, "ack")
                acks.extend((down, ack) for ack in out)
            insert_events(session, batch)
            for (site, device), seqs in batch.seqs.items():
                self._track_seqs(session, batch, site, device, seqs)
            session.commit()
        self.metrics.batch(len(messages))
        return merge_acks(acks)

    def _dispatch_event(
        self, session: Session, batch: Batch, topic: topics.Topic, msg: EventMessage
    ) -> list[AckMessage]:
        """Events touch only their own row (inserted at commit) and the device's (known to
        the batch), so nothing needs flushing before the commit."""
        with session.no_autoflush:
            if self._refused_site(session, batch, topic):
                return []
            return self._event(session, batch, topic, msg)

    def _dispatch(
        self, session: Session, batch: Batch, topic: topics.Topic, payload: bytes
    ) -> list[AckMessage]:
        if self._refused_site(session, batch, topic):
            return []
        key = (topic.site, topic.device)
        if topic.kind == "cmd-result":
            result = codec.decode(CommandResult, payload)
            touch_device(session, batch, topic.site, topic.device, at=self.clock())
            commands.apply_result(session, topic.site, topic.device, result)
            return []
        if topic.kind == "status":
            return self._status(session, batch, topic, codec.decode(StatusMessage, payload))
        if topic.kind == "health":
            return self._health(session, batch, topic, codec.decode(HealthMessage, payload))
        if topic.kind.startswith("file-"):
            self._check_file_owner(session, topic)
            out = self.transfers.handle(session, topic, payload)
            if topic.kind == "file-init":
                init = codec.decode(FileInit, payload)
                batch.seqs.setdefault(key, []).append(init.seq)
            return out
        log.info("ignoring %s from %s/%s (not handled yet)", topic.kind, topic.site, topic.device)
        return []

    def _refused_site(self, session: Session, batch: Batch, topic: topics.Topic) -> bool:
        """True (and a ``site_mismatch`` alarm) when the device is enrolled for another site."""
        key = (topic.site, topic.device)
        if key not in batch.homes:
            batch.homes[key] = manifests.enrolled_elsewhere(session, topic.site, topic.device)
        home = batch.homes[key]
        if home is None:
            return False
        manifests.raise_alarm(
            session, home, topic.device, manifests.SITE_MISMATCH, {"topic_site": topic.site}
        )
        self.metrics.error("site_mismatch")
        log.warning(
            "dropped %s: device %s is enrolled for site %s, not %s",
            topic.kind, topic.device, home, topic.site,
        )  # fmt: skip
        return True

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

    def _event(
        self, session: Session, batch: Batch, topic: topics.Topic, msg: EventMessage
    ) -> list[AckMessage]:
        self.metrics.lag((self.clock() - msg.sent_at).total_seconds())
        if msg.id in batch.events or msg.id in batch.stored:
            log.debug("event %s already stored", msg.id)
        else:
            batch.new_events.append(
                {
                    "id": msg.id,
                    "site": topic.site,
                    "device": topic.device,
                    "seq": msg.seq,
                    "kind": msg.kind,
                    "occurred_at": msg.occurred_at,
                    "occurred_offset_min": offset_minutes(msg.occurred_at),
                    "camera": msg.camera,
                    "source": msg.source,
                    "data": dict(msg.data),
                    "container_no": container_no(msg.data.get("container_no")),
                    "clock_synced": msg.clock_synced,
                    "received_at": utcnow(),
                }
            )
            batch.events.add(msg.id)
            if msg.kind == commands.WINDOW_FAILED:
                commands.window_failed(session, topic.site, topic.device, msg.sent_at, msg.data)
            if msg.kind in loadingsessions.SESSION_KINDS:
                loadingsessions.record(
                    session,
                    site=topic.site,
                    device=topic.device,
                    event_id=msg.id,
                    kind=msg.kind,
                    occurred_at=msg.occurred_at,
                    source=msg.source,
                    data=msg.data,
                    container_no=container_no(msg.data.get("container_no")),
                )
        touch_device(
            session,
            batch,
            topic.site,
            topic.device,
            clock_synced=msg.clock_synced,
            seq=msg.seq,
            at=self.clock(),
        )
        batch.seqs.setdefault((topic.site, topic.device), []).append(msg.seq)
        return [AckMessage(sent_at=datetime.now(timezone.utc), events=[msg.id])]

    def _status(
        self, session: Session, batch: Batch, topic: topics.Topic, msg: StatusMessage
    ) -> list[AckMessage]:
        touch_device(
            session,
            batch,
            topic.site,
            topic.device,
            clock_synced=msg.clock_synced,
            status=msg.state,
            version=msg.version,
            at=self.clock(),
        )
        return []

    def _health(
        self, session: Session, batch: Batch, topic: topics.Topic, msg: HealthMessage
    ) -> list[AckMessage]:
        touch_device(
            session,
            batch,
            topic.site,
            topic.device,
            clock_synced=msg.clock_synced,
            at=self.clock(),
        )
        return []

    # -- completeness and liveness ---------------------------------------------------
    def _track_seqs(
        self, session: Session, batch: Batch, site: str, device: str, seqs: list[int]
    ) -> None:
        row = touch_device(session, batch, site, device, seq=max(seqs), at=self.clock())
        held = [(int(a), int(b)) for a, b in row.seq_received or []]
        for seq in seqs:
            held = ranges.add(held, (seq, seq + 1))
        row.seq_received = [list(r) for r in held]
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
        if not gaps and not old:
            return  # no gap now or before: no seq_gap alarm can be open
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

    def due_commands(self) -> list[tuple[str, CommandMessage]]:
        """Expire what is overdue and claim the commands to publish now (committed)."""
        now = self.clock()
        with self.db.session() as session:
            commands.expire(session, now)
            due = commands.claim_due(session, now)
            session.commit()
        return due

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
