"""The file-transfer state machine (DESIGN §5): init → chunks → fin, durable and idempotent.

A chunk is written with ``pwrite`` and fsynced *before* its range is committed, so a range
in the database always names bytes on disk. A fin is verified against the init and the
assembled file's SHA-256; a mismatch keeps the bytes in quarantine as evidence. An init
whose signed manifest does not verify (``central.ingest.manifests``) is refused the same
way, with an alarm; the edge retries it later, so a device trusted late loses nothing.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timezone

from sqlalchemy.orm import Session

from central import audit, retention
from central.blobs import FileBlobStore
from central.db.models import Clip, ClipEvent, Transfer
from central.db.types import utcnow
from central.ingest import manifests
from central.ingest.metrics import IngestMetrics
from wire import codec, ranges, topics
from wire.errors import WireError
from wire.hashing import sha256_file
from wire.models import AckMessage, FileAck, FileFin, FileInit
from wire.topics import MAX_CHUNK_BYTES

log = logging.getLogger(__name__)


def _ranges(row: Transfer) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in row.ranges]


def _new_transfer(session: Session, topic: topics.Topic, init: FileInit) -> Transfer:
    row = Transfer(file_id=init.file_id, site=topic.site, device=topic.device,
                   init=init.model_dump(mode="json"), ranges=[], state="receiving",
                   updated_at=utcnow())  # fmt: skip
    session.add(row)
    return row


def _ack(file_ack: FileAck) -> list[AckMessage]:
    return [AckMessage(sent_at=datetime.now(timezone.utc), files=[file_ack])]


class TransferHandler:
    """Handles ``file-init``, ``file-chunk`` and ``file-fin`` inside the caller's session."""

    def __init__(self, blobs: FileBlobStore, metrics: IngestMetrics) -> None:
        self.blobs = blobs
        self.metrics = metrics

    def handle(self, session: Session, topic: topics.Topic, payload: bytes) -> list[AckMessage]:
        assert topic.file_id is not None
        if topic.kind == "file-init":
            init = codec.decode(FileInit, payload)
            if init.file_id != topic.file_id:
                raise WireError(f"FileInit.file_id: {init.file_id!r} differs from the topic")
            return self.init(session, topic, init)
        if topic.kind == "file-fin":
            fin = codec.decode(FileFin, payload)
            if fin.file_id != topic.file_id:
                raise WireError(f"FileFin.file_id: {fin.file_id!r} differs from the topic")
            return self.fin(session, topic, fin)
        assert topic.offset is not None
        return self.chunk(session, topic.file_id, topic.offset, payload)

    def _load(self, session: Session, file_id: str) -> Transfer | None:
        return session.get(Transfer, file_id, with_for_update=True)

    def _current(self, row: Transfer) -> FileAck:
        if row.state == "complete":
            size = int(row.init["size"])
            return FileAck(file_id=row.file_id, ranges=[(0, size)], complete=True)
        return FileAck(file_id=row.file_id, ranges=_ranges(row), error=row.error)

    # -- init -------------------------------------------------------------------------

    def init(self, session: Session, topic: topics.Topic, init: FileInit) -> list[AckMessage]:
        row = self._load(session, init.file_id)
        if row is not None and row.state == "complete":
            return _ack(self._current(row))
        refusal = manifests.verify_init(session, topic.site, topic.device, init)
        if refusal is not None:
            return self._refuse(session, topic, init, row, refusal)
        partial = self.blobs.partial_path(init.file_id)
        if row is None:
            row = _new_transfer(session, topic, init)
            partial.unlink(missing_ok=True)
            log.info("transfer %s started: %s (%d bytes)", init.file_id, init.name, init.size)
        elif row.state == "rejected":
            log.info("transfer %s restarted after rejection (%s)", init.file_id, row.error)
            partial.unlink(missing_ok=True)
            row.init = init.model_dump(mode="json")
            row.ranges = []
            row.state = "receiving"
            row.error = None
            row.updated_at = utcnow()
        elif row.state == "receiving":
            if row.ranges and not partial.exists():
                log.warning("transfer %s lost its partial file; starting over", init.file_id)
                row.ranges = []
            if init.size != row.init["size"] or init.sha256 != row.init["sha256"]:
                log.warning("transfer %s re-announced with a new size/hash", init.file_id)
                partial.unlink(missing_ok=True)
                row.ranges = []
            row.init = init.model_dump(mode="json")
            row.updated_at = utcnow()
        return _ack(self._current(row))

    # -- chunk ------------------------------------------------------------------------

    def chunk(self, session: Session, file_id: str, offset: int, data: bytes) -> list[AckMessage]:
        row = self._load(session, file_id)
        if row is None or row.state == "rejected":
            log.info("chunk %s@%d ignored: no receiving transfer", file_id, offset)
            self.metrics.error("chunk_no_transfer")
            return []
        if row.state == "complete":
            return _ack(self._current(row))
        size = int(row.init["size"])
        if len(data) > MAX_CHUNK_BYTES or offset + len(data) > size or not data:
            log.warning(
                "chunk %s@%d ignored: %d bytes does not fit a %d-byte file",
                file_id,
                offset,
                len(data),
                size,
            )
            self.metrics.error("chunk_out_of_bounds")
            return []
        path = self.blobs.partial_path(file_id)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.pwrite(fd, data, offset)
            os.fsync(fd)
        finally:
            os.close(fd)
        row.ranges = [list(r) for r in ranges.add(_ranges(row), (offset, offset + len(data)))]
        row.updated_at = utcnow()
        return _ack(self._current(row))

    # -- fin --------------------------------------------------------------------------

    def fin(self, session: Session, topic: topics.Topic, fin: FileFin) -> list[AckMessage]:
        row = self._load(session, fin.file_id)
        if row is None:
            log.info("fin %s ignored: no transfer", fin.file_id)
            self.metrics.error("fin_no_transfer")
            return []
        if row.state != "receiving":
            return _ack(self._current(row))
        init = FileInit.model_validate(row.init)
        if fin.size != init.size or fin.sha256 != init.sha256:
            reason = (
                f"fin does not match init: size {fin.size} vs {init.size}, "
                f"sha256 {fin.sha256} vs {init.sha256}"
            )
            return self._reject(session, row, reason, {"fin": fin.model_dump(mode="json")})
        partial = self.blobs.partial_path(fin.file_id)
        if not ranges.covered(_ranges(row), init.size):
            return _ack(self._current(row))
        if partial.exists():
            actual = sha256_file(partial)
            if actual != init.sha256:
                reason = f"sha256 mismatch: expected {init.sha256}, assembled {actual}"
                manifests.raise_alarm(
                    session, row.site, row.device, manifests.HASH_MISMATCH,
                    {"file_id": row.file_id, "expected": init.sha256, "assembled": actual},
                )  # fmt: skip
                return self._reject(session, row, reason, {"actual": actual})
            self.blobs.put_file(partial, init.sha256)
        elif not self.blobs.refresh(init.sha256):  # marked in use: a sweep spares it
            # Ranges claim bytes that are gone: start the transfer over.
            log.warning("transfer %s: partial file missing; asking for everything", fin.file_id)
            row.ranges = []
            return _ack(self._current(row))
        self._store_clip(session, topic, init)
        row.state = "complete"
        row.error = None
        row.updated_at = utcnow()
        log.info("transfer %s complete: %s", fin.file_id, init.sha256)
        return _ack(self._current(row))

    def _refuse(
        self,
        session: Session,
        topic: topics.Topic,
        init: FileInit,
        row: Transfer | None,
        refusal: manifests.Refusal,
    ) -> list[AckMessage]:
        """An init whose manifest does not hold: keep the evidence, alarm, ack the error."""
        if row is None:
            row = _new_transfer(session, topic, init)
        else:
            row.init = init.model_dump(mode="json")
        manifests.raise_alarm(
            session,
            topic.site,
            topic.device,
            refusal.alarm,
            {"file_id": init.file_id, "reason": refusal.reason},
        )
        evidence: dict[str, object] = {"manifest": init.manifest, "signature": init.signature}
        return self._reject(session, row, refusal.reason, evidence)

    def _store_clip(self, session: Session, topic: topics.Topic, init: FileInit) -> None:
        if session.get(Clip, init.file_id) is not None:
            return
        manifests.link(session, topic.site, topic.device, init)
        received = utcnow()
        retention_class = retention.classify(session, init.kind, init.event_ids)
        session.add(
            Clip(
                id=init.file_id,
                site=topic.site,
                device=topic.device,
                camera=init.camera,
                kind=init.kind,
                name=init.name,
                size=init.size,
                sha256=init.sha256,
                start=init.start,
                end=init.end,
                event_ids=list(init.event_ids),
                seq=init.seq,
                clock_synced=init.clock_synced,
                received_at=received,
                retention_class=retention_class,
                retain_until=retention.retain_until(retention_class, received),
                verified=True,  # signed manifest checked at init, its SHA-256 at fin
            )
        )
        session.flush()
        for event_id in dict.fromkeys(init.event_ids):
            session.add(ClipEvent(clip_id=init.file_id, event_id=event_id))

    def _reject(
        self, session: Session, row: Transfer, reason: str, detail: dict[str, object]
    ) -> list[AckMessage]:
        kept = self.blobs.quarantine(row.file_id, reason)
        row.state = "rejected"
        row.error = reason[:500]
        row.updated_at = utcnow()
        self.metrics.error("transfer_rejected")
        log.warning("transfer %s rejected: %s (evidence: %s)", row.file_id, reason, kept)
        audit.append(
            session,
            "ingest",
            "transfer.reject",
            row.file_id,
            {
                "site": row.site,
                "device": row.device,
                "reason": reason,
                "expected": row.init.get("sha256"),
                "evidence": str(kept) if kept else None,
                **detail,
            },
        )
        return _ack(FileAck(file_id=row.file_id, ranges=[], error=reason[:500]))
