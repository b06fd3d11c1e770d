"""File transfer of outbox clips: init → a window of chunks → fin, resumed from central's acks.

Central answers ``init`` with the byte ranges it already holds; only missing ranges are sent,
read from disk (never a whole file in memory). The chunks in flight over all transfers stay
within one window that follows the measured rate and round trip (``edge.pacing``; at most
``[mqtt] window``): an urgent event queues behind about one round trip plus ``QUEUE_S``
of chunks, not behind a fixed window. A ``FileAck`` with ``complete`` is the only delivery;
one with ``error`` starts the file over after a back-off; a transfer that makes no progress
for ``ack_timeout`` re-sends its init.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from edge.clock import clock_synced
from edge.config import EdgeConfig
from edge.pacing import Pacer
from edge.sessions import session_event_ids
from edge.store import OutboxItem, Store
from edge.timeutil import now
from edge.transfer import Transfer
from wire import codec, topics
from wire.errors import TransferError
from wire.models import FileAck, FileFin, FileInit

log = logging.getLogger(__name__)

ERROR_BACKOFF_S = (5.0, 600.0)  # first retry, cap (seconds)
RANGES_SAVE_S = 2.0  # how often a transfer's acked ranges are written to the store


class FileSender:
    """The transfers in progress; ``publish(topic, payload)`` sends one QoS 1 message."""

    def __init__(
        self, config: EdgeConfig, store: Store, publish: Callable[[str, bytes], None]
    ) -> None:
        self.config = config
        self.store = store
        self.publish = publish
        self.site, self.device = config.site.id, config.site.device
        self.lock = threading.RLock()
        self.transfers: dict[str, Transfer] = {}
        self.pacer = Pacer(config.mqtt.chunk_size, config.mqtt.window)  # guarded by ``lock``
        self.error_backoff = ERROR_BACKOFF_S

    def _drop(self, file_id: str) -> None:
        transfer = self.transfers.pop(file_id, None)
        if transfer is not None:
            transfer.close()

    def close(self) -> None:
        """Close every open file; idempotent."""
        with self.lock:
            for file_id in list(self.transfers):
                self._drop(file_id)

    def reset(self) -> None:
        """After a (re)connect: every transfer starts again from its init, and the window
        from its first size (the new connection may take another path)."""
        with self.lock:
            self.pacer.reset()
            for transfer in self.transfers.values():
                transfer.reset()

    def on_ack(self, fa: FileAck) -> None:
        """Apply one ``FileAck``: complete → delivered; error → start over later; else ranges.

        The ranges of a transfer in progress are kept in memory and written to the store at
        most every ``RANGES_SAVE_S``: central's answer to the next init is what counts after
        a restart, so the copy on disk only shortens nothing and costs an fsync per chunk."""
        if not fa.complete and not fa.error:
            with self.lock:
                transfer = self.transfers.get(fa.file_id)
                if transfer is not None:
                    transfer.on_ack([(int(a), int(b)) for a, b in fa.ranges])
                    if time.monotonic() - transfer.saved_at >= RANGES_SAVE_S:
                        self.store.set_acked_ranges(transfer.seq, transfer.acked)
                        transfer.saved_at = time.monotonic()
                    return
        item = self.store.outbox_item("file", fa.file_id)
        if item is None or item.state != "pending":
            return
        with self.lock:
            transfer = self.transfers.get(fa.file_id)
            if fa.complete:
                self.store.mark_delivered("file", fa.file_id)
                self._drop(fa.file_id)
                log.info("sync: file %s delivered", fa.file_id)
                return
            if fa.error:
                log.warning("sync: central rejected file %s: %s", fa.file_id, fa.error)
                self._drop(fa.file_id)
                self.store.set_acked_ranges(item.seq, [])
                first, cap = self.error_backoff
                delay = min(cap, first * 2 ** min(item.attempts, 20))
                self.store.note_attempt(item.seq, time.time() + delay)
                return
            held = [(int(a), int(b)) for a, b in fa.ranges]
            if transfer is not None:
                transfer.on_ack(held)
                held = transfer.acked
            self.store.set_acked_ranges(item.seq, held)

    def drive(self, item: OutboxItem) -> None:
        """Advance one outbox file: init, the next window of chunks, or fin. Chunks are
        published outside the lock: ``publish`` may sleep on the uplink's token bucket and
        the network thread must still be able to apply acks meanwhile. The fin follows the
        last chunk at once (``Transfer.fin_due``)."""
        planned = self._plan(item)
        for transfer, chunk in planned:
            data = transfer.read(chunk)
            self.publish(
                topics.file_chunk(self.site, self.device, transfer.file_id, chunk[0]), data
            )
        if planned:
            with self.lock:
                transfer = planned[0][0]
                if self.transfers.get(transfer.file_id) is transfer and transfer.fin_due():
                    self._send_fin(transfer)

    def _plan(self, item: OutboxItem) -> list[tuple[Transfer, tuple[int, int]]]:
        with self.lock:
            transfer = self.transfers.get(item.item_id)
            if transfer is None:
                transfer = self._new_transfer(item)
                if transfer is None:
                    return []
                self.transfers[item.item_id] = transfer
            if not transfer.init_sent:
                self._send_init(item, transfer)
                return []
            if transfer.stalled(self.config.mqtt.ack_timeout):
                log.info("sync: file %s made no progress; re-sending init", item.item_id)
                transfer.reset()
                self._send_init(item, transfer)
                return []
            if transfer.fin_due():
                self._send_fin(transfer)
            if transfer.complete_on_our_side:
                return []
            busy = sum(len(t.inflight) for t in self.transfers.values())
            chunks = transfer.next_chunks(room=max(0, self.pacer.window - busy))
            for chunk in chunks:
                transfer.mark_sent(chunk)
            return [(transfer, chunk) for chunk in chunks]

    def _new_transfer(self, item: OutboxItem) -> Transfer | None:
        clip = self.store.clip(item.item_id)
        if clip is None or not clip.path.exists():
            log.error("sync: file %s is missing on disk; retrying in an hour", item.item_id)
            self.store.note_attempt(item.seq, time.time() + 3600)
            return None
        mq = self.config.mqtt
        return Transfer(
            seq=item.seq,
            file_id=clip.file_id,
            path=clip.path,
            size=clip.size,
            chunk_size=mq.chunk_size,
            window=mq.window,
            acked=list(item.acked_ranges),
            pacer=self.pacer,
        )

    def _send_init(self, item: OutboxItem, transfer: Transfer) -> None:
        clip = self.store.clip(item.item_id)
        if clip is None:
            raise TransferError(f"file {item.item_id}: no clip row")
        signed = self.store.manifest(clip.file_id)  # None: queued unsigned; central refuses it
        init = FileInit(
            sent_at=now(),
            clock_synced=clock_synced(),
            seq=item.seq,
            file_id=clip.file_id,
            name=clip.path.name,
            size=clip.size,
            sha256=clip.sha256,
            kind=clip.kind,
            camera=clip.camera,
            start=clip.start,
            end=clip.end,
            event_ids=[clip.event_id]
            if clip.event_id
            else session_event_ids(self.store, clip.session_id),
            chunk_size=transfer.chunk_size,
            manifest=signed.body if signed else None,
            signature=signed.signature if signed else None,
        )
        self.publish(topics.file_init(self.site, self.device, clip.file_id), codec.encode(init))
        transfer.on_init_sent()
        self.store.note_attempt(item.seq)

    def _send_fin(self, transfer: Transfer) -> None:
        clip = self.store.clip(transfer.file_id)
        if clip is None:
            raise TransferError(f"file {transfer.file_id}: no clip row")
        fin = FileFin(file_id=clip.file_id, size=clip.size, sha256=clip.sha256)
        self.publish(topics.file_fin(self.site, self.device, clip.file_id), codec.encode(fin))
        transfer.on_fin_sent()
