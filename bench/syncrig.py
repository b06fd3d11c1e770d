"""The rig of the ``bench.sync*`` figures: a receiver that acks like central, the edge config, one
clip through ``SyncClient``, and the raw paho baseline.

``Receiver`` keeps the byte ranges it holds per file for its whole life (as central's database
does, across edge restarts), answers every init with them, acks the chunks with the file's held
ranges, acks ``complete`` after a fin that covers the file and acks each event by id. Like
central's ingest worker it handles what has queued up as one batch on a thread of its own and
releases the batch's acks through the same hold (``central.ingest.ackhold.AckHold``): those of
a batch of chunks wait up to ``ACK_HOLD_S`` and leave merged, the others at once. It builds one
``FileAck`` per file a batch touched (not one per chunk). It records the outbox seq of every
item the first time it starts (first event message, first init), in arrival order; the bytes
of chunks it already held (received twice); chunk arrival times; and the bytes on
``RAW_TOPIC``, where the raw baselines publish. The raw topic lies under the device's ``up/``
so the shipped ACL lets a device certificate publish it.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import hashlib
import os
import queue
import statistics
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import paho.mqtt.client as mqtt

from central.ingest.ackhold import AckHold
from central.ingest.runner import BATCH_MAX_MESSAGES
from edge.config import EdgeConfig, parse_config
from edge.store import Store
from edge.sync import SyncClient
from edge.timeutil import now
from wire import codec, ranges, topics
from wire.closing import Closeable
from wire.models import AckMessage, EventMessage, FileAck, FileFin, FileInit
from wire.mqttsocket import set_no_delay

SITE, DEVICE = "bench", "edge01"
RAW_TOPIC = f"{topics.ROOT}/{SITE}/{DEVICE}/up/bench-raw"
ACK_TOPIC = topics.down(SITE, DEVICE, "ack")
WINDOW = 32  # chunks in flight (the edge's default is 8): loopback at ~800 MB/s needs ~4 MB
WAIT_S = 600.0
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters


def steady_allocator() -> bool:
    """Fix glibc malloc's mmap and trim thresholds (32 MiB, 128 MiB) for this process.

    With glibc's dynamic thresholds every 256 KiB payload paho allocates may be a fresh mmap
    or a trimmed heap top, i.e. page faults, until the process happens to free a larger block:
    the same raw publish of 1 GB ran at 260 or at 650 MB/s depending on what ran before it.
    Fixed thresholds give every figure of a run the same conditions. False if not glibc."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, 32 << 20) and mallopt(M_TRIM_THRESHOLD, 128 << 20))


def overlap(held: list[tuple[int, int]], start: int, end: int) -> int:
    """Bytes of ``[start, end)`` already inside ``held``."""
    return sum(max(0, min(b, end) - max(a, start)) for a, b in held)


class Receiver(Closeable):
    """Acks file and event traffic of ``SITE/DEVICE`` like central; see the module docstring.
    Takes over a connected paho client; ``close()`` disconnects it."""

    def __init__(self, client: mqtt.Client) -> None:
        self.lock = threading.Lock()
        self.raw_bytes = 0
        self.raw_expected = 0
        self.raw_done = threading.Event()
        self.held: dict[str, list[tuple[int, int]]] = {}
        self.completed: set[str] = set()
        self.complete = threading.Event()  # set by every complete ack
        self.events: set[str] = set()
        self.event_bytes = 0
        self.starts: list[int] = []  # outbox seq of each item's first event / init
        self.dup_bytes = 0
        self.arrivals: list[tuple[float, int]] = []
        self.expected = (0, 0)  # (events, files) whose acks set ``all_acked``
        self.all_acked = threading.Event()
        self.all_acked_at = 0.0
        self.halfway: tuple[str, int] | None = None  # (file id, bytes) that set ``reached``
        self.reached = threading.Event()
        self._pending: list[tuple[str, AckMessage]] = []  # this batch's acks
        self._changed: dict[str, None] = {}  # files whose held ranges this batch answers
        self._held: AckHold[None] = AckHold()
        self._inbox: queue.Queue[mqtt.MQTTMessage | None] = queue.Queue()
        self._worker = threading.Thread(target=self._work, name="bench-receiver", daemon=True)
        self._worker.start()
        self.client = client
        set_no_delay(client)  # as central's ingest does: acks leave at once
        client.on_message = self._on_message
        subscribed = threading.Event()
        client.on_subscribe = lambda *args: subscribed.set()
        client.subscribe(topics.up_filter(SITE, DEVICE), 1)
        if not subscribed.wait(10):
            raise SystemExit("bench: the receiver could not subscribe")

    def expect(self, events: int, files: int) -> None:
        """Set ``all_acked`` once ``events`` events and ``files`` files have been acked."""
        self.expected = (events, files)
        self.all_acked.clear()

    def _ack(self, ack: AckMessage) -> None:
        self._pending.append((ACK_TOPIC, ack))

    def _flush(self, completed: bool, awaited: bool) -> None:
        """Hand the batch's acks to the hold; publish what it releases, as central does.
        One ``FileAck`` per file the batch touched, built once, before the batch's other acks
        (a later complete ack of the same file wins the merge)."""
        if self._changed:
            progress = [FileAck(file_id=f, ranges=self.held[f]) for f in self._changed]
            self._pending.insert(0, (ACK_TOPIC, AckMessage(sent_at=now(), files=progress)))
            self._changed = {}
        self._held.add(self._pending, [], awaited)
        self._pending = []
        if self._held.due():
            self._release()
        if completed:
            self.complete.set()
        events, files = self.expected
        done = len(self.events) >= events and len(self.completed) >= files
        if done and not self.all_acked.is_set():
            self.all_acked_at = time.monotonic()
            self.all_acked.set()

    def _release(self) -> None:
        for topic, ack in self._held.release()[0]:
            self.client.publish(topic, codec.encode(ack), qos=1)

    def _file_ack(self, fa: FileAck) -> None:
        self._ack(AckMessage(sent_at=now(), files=[fa]))

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == RAW_TOPIC:
            with self.lock:
                self.raw_bytes += len(msg.payload)
                if self.raw_bytes >= self.raw_expected:
                    self.raw_done.set()
            return
        self._inbox.put(msg)

    def _work(self) -> None:
        """Like central's ingest worker: take what has queued up as one batch, handle it,
        then pass its acks through the hold (released when due, or when the inbox is idle
        until the hold's deadline)."""
        while True:
            deadline = self._held.deadline()
            try:
                msg = self._inbox.get(
                    timeout=None if deadline is None else max(0.0, deadline - time.monotonic())
                )
            except queue.Empty:
                self._release()
                continue
            if msg is None:
                self._release()
                return
            batch, stop = [msg], False
            with contextlib.suppress(queue.Empty):
                while len(batch) < BATCH_MAX_MESSAGES and not stop:
                    more = self._inbox.get_nowait()
                    if more is None:
                        stop = True
                    else:
                        batch.append(more)
            completed = False
            for item in batch:
                completed |= self._handle(item)
            self._flush(completed, not all(topics.is_file_chunk(m.topic) for m in batch))
            if stop:
                self._release()
                return

    def _handle(self, msg: mqtt.MQTTMessage) -> bool:
        """Handle one message; True if it completed a file."""
        topic = topics.parse(msg.topic)
        if topic.kind == "event":
            event = codec.decode(EventMessage, msg.payload)
            if event.id not in self.events:
                self.starts.append(event.seq)
                self.event_bytes += len(msg.payload)
            self.events.add(event.id)
            self._ack(AckMessage(sent_at=now(), events=[event.id]))
        elif topic.kind == "file-init":
            init = codec.decode(FileInit, msg.payload)
            if init.file_id not in self.held:
                self.starts.append(init.seq)
                self.held[init.file_id] = []
            self._changed[init.file_id] = None
        elif topic.kind == "file-chunk":
            self._on_chunk(topic.file_id or "", topic.offset or 0, len(msg.payload))
        elif topic.kind == "file-fin":
            fin = codec.decode(FileFin, msg.payload)
            if ranges.covered(self.held.get(fin.file_id, []), fin.size):
                self.completed.add(fin.file_id)
                self._file_ack(FileAck(file_id=fin.file_id, complete=True))
                return True
        return False

    def _on_chunk(self, file_id: str, offset: int, size: int) -> None:
        self.arrivals.append((time.monotonic(), size))
        held = self.held.setdefault(file_id, [])
        self.dup_bytes += overlap(held, offset, offset + size)
        held = self.held[file_id] = ranges.add(held, (offset, offset + size))
        self._changed[file_id] = None
        halfway = self.halfway
        if halfway and halfway[0] == file_id and sum(b - a for a, b in held) >= halfway[1]:
            self.reached.set()

    def close(self) -> None:
        disconnect(self.client)
        self._inbox.put(None)
        self._worker.join(timeout=10)


def disconnect(client: mqtt.Client) -> None:
    client.disconnect()
    client.loop_stop()


@contextlib.contextmanager
def publisher(client: mqtt.Client) -> Iterator[mqtt.Client]:
    """A connected paho client (the raw baseline's publisher), disconnected on exit."""
    try:
        yield client
    finally:
        disconnect(client)


def raw_seconds(publisher: mqtt.Client, receiver: Receiver, messages: Sequence[bytes]) -> float:
    """Seconds from the first raw QoS 1 publish of ``messages`` until the receiver has all."""
    with receiver.lock:
        receiver.raw_bytes, receiver.raw_expected = 0, sum(len(m) for m in messages)
        receiver.raw_done.clear()
    start = time.monotonic()
    for message in messages:
        publisher.publish(RAW_TOPIC, message, qos=1)
    if not receiver.raw_done.wait(WAIT_S):
        raise SystemExit("bench: raw baseline did not arrive")
    return time.monotonic() - start


def paired(
    raw: Callable[[], float], synced: Callable[[int], float], repeat: int
) -> tuple[float, float, list[float]]:
    """Alternate ``raw()`` and ``synced(i)`` ``repeat`` times: (median raw s, median synced s,
    raw ÷ synced of each pair). One pair alone varies widely on a busy 2-core machine."""
    raws, syncs = [], []
    for i in range(repeat):
        raws.append(raw())
        syncs.append(synced(i))
    ratios = [round(r / s, 3) for r, s in zip(raws, syncs, strict=True)]
    return statistics.median(raws), statistics.median(syncs), ratios


def chunks(body: bytes, chunk: int) -> list[bytes]:
    return [body[offset : offset + chunk] for offset in range(0, len(body), chunk)]


def edge_config(workdir: Path, port: int, chunk: int, kbps: int, **mqtt: object) -> EdgeConfig:
    """A bench edge on 127.0.0.1:``port``; ``mqtt`` adds keys such as ``ca_file``."""
    data = {
        "site": {"id": SITE, "device": DEVICE, "location_code": "BENCH-01"},
        "storage": {"data_dir": str(workdir / "data")},
        "mqtt": {"port": port, "chunk_size": chunk, "window": WINDOW, **mqtt},
        "uplink": {"kbps": kbps},
        "cameras": [{"id": "cam1"}],
    }
    return parse_config(data, "bench")


def queue_clip(store: Store, file_id: str, path: Path, body: bytes, priority: int = 30,
               **extra: Any) -> int:  # fmt: skip
    """Write ``body`` to ``path`` and queue it as a clip (unsigned); return its outbox seq."""
    path.write_bytes(body)
    t = now()
    return store.add_clip(file_id, extra.pop("event_id", None), "cam1", path,
                          t - timedelta(seconds=10), t, len(body),
                          hashlib.sha256(body).hexdigest(), [], priority, **extra)  # fmt: skip


class Flag(Protocol):
    """A threading or multiprocessing event."""

    def clear(self) -> None: ...

    def wait(self, timeout: float | None = None) -> bool: ...


class CompletionWatcher(Protocol):
    """What ``sync_seconds`` needs of a receiver (``Receiver`` or ``RemoteReceiver``)."""

    @property
    def complete(self) -> Flag: ...

    @property
    def arrivals(self) -> list[tuple[float, int]]: ...


class SyncedEdge(Closeable):
    """An edge store and its connected ``SyncClient``, kept for a series of clips as the raw
    baseline keeps its publisher: one broker connection for the series, as a box has (a new
    connection per clip put TCP's warm-up into the figure: 0.64 vs 0.78 on one machine)."""

    def __init__(self, config: EdgeConfig) -> None:
        self.workdir = Path(config.storage.data_dir).parent
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._closed = False
        self.store = Store(config.db_path)
        self.sync = SyncClient(config, self.store)
        self.sync.start()
        if not self.sync.connected.wait(WAIT_S):
            self.close()
            raise SystemExit("bench: the edge did not connect")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.sync.close()
        self.store.close()


def sync_seconds(edge: SyncedEdge, receiver: CompletionWatcher, body: bytes, name: str) -> float:
    """Seconds from one clip of ``body`` queued through ``edge`` (the file written, its outbox
    row committed) to the receiver's complete ack: the drain's wake, init, chunks and fin.
    Writing the outbox row is the clip worker's work, not the uplink's, and is left out as
    writing the file is."""
    receiver.complete.clear()
    receiver.arrivals.clear()
    path = edge.workdir / f"{name}.mp4"
    with path.open("wb") as handle:  # on disk before the clock starts, as a recorded clip is:
        handle.write(body)  # its writeback would otherwise share the cores with the sync
        os.fsync(handle.fileno())
    digest, end = hashlib.sha256(body).hexdigest(), now()
    edge.store.add_clip("Fbench" + name, None, "cam1", path, end - timedelta(seconds=10), end,
                        len(body), digest, [], 30)  # fmt: skip
    start = time.monotonic()
    if not receiver.complete.wait(WAIT_S):
        raise SystemExit("bench: the clip was not delivered")
    return time.monotonic() - start
