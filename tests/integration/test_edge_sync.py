"""Sync against a real Mosquitto and a tiny test double of central written here.

The double subscribes to the device's ``up/#``, answers FileInit and chunks with FileAcks
listing what it holds, verifies size + sha256 on fin and only then acks ``complete``.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.config import EdgeConfig, load_config
from edge.events import file_priority, record_event
from edge.store import Store
from edge.sync import SyncClient
from edge.timeutil import now
from tests.helpers import Broker, wait_for
from wire import codec, ranges, topics
from wire.models import AckMessage, EventMessage, FileAck, FileFin, FileInit, StatusMessage

pytestmark = pytest.mark.slow

SITE, DEVICE = "site01", "edge01"


class CentralDouble:
    """Just enough of central: stores chunks in memory, acks what it holds."""

    def __init__(self, broker: Broker) -> None:
        self.lock = threading.RLock()  # a late chunk is handled inside the fin's handling
        self.acking = True  # answer at all?
        self.complete_acks = True  # send complete=True after a good fin?
        self.error_on_fin = 0  # how many fins to answer with an error
        self.keep_below: int | None = None  # drop (never hold) chunks at/after this offset
        # hold back the chunk that would complete a file until its fin has been answered, as
        # a second ingest worker that stores it after the first answered the fin
        self.last_chunk_late = False
        self._late: mqtt.MQTTMessage | None = None
        self.inits: list[FileInit] = []
        self.events: list[EventMessage] = []
        self.chunks: list[tuple[str, int, int]] = []  # (file_id, offset, length) as received
        self.fins: list[FileFin] = []
        self.verified: dict[str, bytes] = {}
        self.status: list[StatusMessage] = []
        self.data: dict[str, bytearray] = {}
        self.held: dict[str, list[tuple[int, int]]] = {}
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="central-double",
                                  protocol=mqtt.MQTTv5)  # fmt: skip
        self.client.reconnect_delay_set(0.2, 1)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        wait_for(self.subscribed.is_set, 10, "the double to subscribe")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, *args: object) -> None:
        client.subscribe(topics.up_filter(SITE, DEVICE), qos=1)

    def _ack(self, **kwargs: object) -> None:
        if not self.acking:
            return
        message = AckMessage(sent_at=now(), **kwargs)  # type: ignore[arg-type]
        self.client.publish(topics.down(SITE, DEVICE, "ack"), codec.encode(message), qos=1)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        topic = topics.parse(msg.topic)
        with self.lock:
            if topic.kind == "status":
                self.status.append(codec.decode(StatusMessage, msg.payload))
            elif topic.kind == "event":
                event = codec.decode(EventMessage, msg.payload)
                self.events.append(event)
                self._ack(events=[event.id])
            elif topic.kind == "file-init":
                init = codec.decode(FileInit, msg.payload)
                self.inits.append(init)
                self.data.setdefault(init.file_id, bytearray(init.size))
                self.held.setdefault(init.file_id, [])
                if init.file_id in self.verified and self.complete_acks:
                    self._ack(files=[FileAck(file_id=init.file_id, complete=True)])
                else:
                    self._ack(files=[FileAck(file_id=init.file_id, ranges=self.held[init.file_id])])
            elif topic.kind == "file-chunk":
                fid, offset = topic.file_id or "", topic.offset or 0
                size = len(self.data[fid])
                end = offset + len(msg.payload)
                completes = ranges.covered(ranges.add(self.held[fid], (offset, end)), size)
                if self.last_chunk_late and completes and self._late is None:
                    self._late = msg
                    return
                self.chunks.append((fid, offset, len(msg.payload)))
                if self.keep_below is not None and offset >= self.keep_below:
                    return
                self.data[fid][offset : offset + len(msg.payload)] = msg.payload
                self.held[fid] = ranges.add(self.held[fid], (offset, offset + len(msg.payload)))
                self._ack(files=[FileAck(file_id=fid, ranges=self.held[fid])])
            elif topic.kind == "file-fin":
                fin = codec.decode(FileFin, msg.payload)
                self.fins.append(fin)
                body = bytes(self.data[fin.file_id])
                good = (
                    ranges.covered(self.held[fin.file_id], fin.size)
                    and hashlib.sha256(body).hexdigest() == fin.sha256
                )
                late, self._late = self._late, None
                if late is not None:  # the fin was answered with what is held, then this
                    self._ack(files=[FileAck(file_id=fin.file_id, ranges=self.held[fin.file_id])])
                    self.last_chunk_late = False
                    self._on_message(client, userdata, late)
                elif self.error_on_fin > 0:
                    self.error_on_fin -= 1
                    self.held[fin.file_id] = []
                    self._ack(files=[FileAck(file_id=fin.file_id, error="storage full")])
                elif good:
                    self.verified[fin.file_id] = body
                    if self.complete_acks:
                        self._ack(files=[FileAck(file_id=fin.file_id, complete=True)])

    def offsets(self, file_id: str) -> list[int]:
        with self.lock:
            return [o for f, o, _ in self.chunks if f == file_id]


def edge_config(tmp_path: Path, broker: Broker, **mqtt_options: object) -> EdgeConfig:
    options = {"chunk_size": 16384, "window": 4, "ack_timeout": 2.0, **mqtt_options}
    lines = "".join(f"{k} = {v!r}\n" for k, v in options.items())
    path = tmp_path / "edge.toml"
    path.write_text(
        f"""
[site]
id = "{SITE}"
device = "{DEVICE}"
location_code = "370200-QD-01"
[storage]
data_dir = "data"
[mqtt]
host = "{broker.host}"
port = {broker.port}
keepalive = 5
{lines}
[[cameras]]
id = "cam1"
"""
    )
    return load_config(path)


def queue_clip(store: Store, folder: Path, size: int = 200_000) -> tuple[str, str, bytes]:
    """A fake clip file (random bytes; sync does not care about the content) + its event."""
    body = os.urandom(size)
    event_id = record_event(store, "seal_broken", camera="cam1", clip=False)
    path = folder / f"clip-{event_id}.mp4"
    path.write_bytes(body)
    file_id = f"F{event_id}"
    t = now()
    store.add_clip(file_id, event_id, "cam1", path, t - timedelta(seconds=4), t, size,
                   hashlib.sha256(body).hexdigest(), [], file_priority("seal_broken"))  # fmt: skip
    return event_id, file_id, body


@pytest.fixture
def setup(tmp_path: Path, broker: Broker) -> Iterator[tuple[EdgeConfig, Store, CentralDouble]]:
    config = edge_config(tmp_path, broker)
    double = CentralDouble(broker)
    with Store(config.db_path) as store:
        yield config, store, double
    double.close()


def state(store: Store, kind: str, item_id: str) -> str:
    item = store.outbox_item(kind, item_id)
    assert item is not None
    return item.state


def test_file_arrives_byte_identical_and_is_delivered_only_on_complete_ack(
    setup: tuple[EdgeConfig, Store, CentralDouble], tmp_path: Path
) -> None:
    config, store, double = setup
    double.complete_acks = False
    event_id, file_id, body = queue_clip(store, tmp_path)
    with SyncClient(config, store) as sync:
        sync.start()
        wait_for(lambda: file_id in double.verified, 30, "the double to verify the file")
        assert double.verified[file_id] == body
        wait_for(lambda: state(store, "event", event_id) == "delivered", 10, "event delivered")
        # every byte is at central and fin was sent, but no complete ack: still pending,
        # even after the edge re-announced the file because nothing more happened
        wait_for(lambda: len(double.inits) >= 2, 15, "a re-sent init after ack_timeout")
        assert state(store, "file", file_id) == "pending"
        item = store.outbox_item("file", file_id)
        assert item is not None and item.acked_ranges == [(0, len(body))]
        double.complete_acks = True
        wait_for(lambda: state(store, "file", file_id) == "delivered", 15, "file delivered")
    init = double.inits[0]
    assert init.seq == store.outbox_item("file", file_id).seq  # type: ignore[union-attr]
    assert init.size == len(body) and init.event_ids == [event_id]
    assert init.sent_at.utcoffset() is not None and isinstance(init.clock_synced, bool)
    event = double.events[0]
    assert event.id == event_id and event.kind == "seal_broken"
    assert event.seq == store.outbox_item("event", event_id).seq  # type: ignore[union-attr]
    assert max(length for _, _, length in double.chunks) <= config.mqtt.chunk_size


def test_the_fin_follows_the_last_chunk_and_comes_again_when_central_lacked_it(
    setup: tuple[EdgeConfig, Store, CentralDouble], tmp_path: Path
) -> None:
    config, store, double = setup
    _, file_id, body = queue_clip(store, tmp_path)
    with SyncClient(config, store) as sync:
        sync.start()
        wait_for(lambda: state(store, "file", file_id) == "delivered", 30, "file delivered")
    assert len(double.fins) == 1  # sent once, right after the last chunk
    double.last_chunk_late = True
    _, late_id, late_body = queue_clip(store, tmp_path)
    with SyncClient(config, store) as sync:
        sync.start()
        wait_for(lambda: state(store, "file", late_id) == "delivered", 30, "late file delivered")
    fins = [fin for fin in double.fins if fin.file_id == late_id]
    assert len(fins) == 2  # answered without the last chunk, then sent again once covered
    assert double.verified[late_id] == late_body and double.verified[file_id] == body
    assert [init.file_id for init in double.inits].count(late_id) == 1  # no re-announce


def test_nothing_is_delivered_when_central_never_acks(
    setup: tuple[EdgeConfig, Store, CentralDouble], tmp_path: Path
) -> None:
    config, store, double = setup
    double.acking = False
    event_id, file_id, _ = queue_clip(store, tmp_path)
    with SyncClient(config, store) as sync:
        sync.start()
        wait_for(lambda: len(double.inits) >= 2, 15, "init re-sent after ack_timeout")
        wait_for(lambda: len(double.events) >= 2, 15, "event re-sent after ack_timeout")
        assert double.chunks == []  # no chunk before central answered the init
        assert state(store, "event", event_id) == "pending"
        assert state(store, "file", file_id) == "pending"
        assert store.backlog()[0] == 2


def test_resend_after_reconnect_sends_only_unacked_ranges(
    setup: tuple[EdgeConfig, Store, CentralDouble], tmp_path: Path, broker: Broker
) -> None:
    config, store, double = setup
    half = 96 * 1024
    double.keep_below = half
    _, file_id, body = queue_clip(store, tmp_path, size=200_000)
    with SyncClient(config, store) as sync:
        sync.start()
        wait_for(lambda: any(o >= half for o in double.offsets(file_id)), 20, "chunks past half")
        wait_for(
            lambda: store.outbox_item("file", file_id).acked_ranges == [(0, half)],  # type: ignore[union-attr]
            10,
            "the held ranges to be persisted in the outbox row",
        )
        broker.stop()
        wait_for(lambda: not sync.connected.is_set(), 20, "the edge to notice the outage")
        double.keep_below = None
        mark = len(double.chunks)
        broker.start()
        wait_for(lambda: file_id in double.verified, 60, "the file after reconnect")
        wait_for(lambda: state(store, "file", file_id) == "delivered", 15, "delivered")
    assert double.verified[file_id] == body
    after = [o for f, o, _ in double.chunks[mark:] if f == file_id]
    assert after and min(after) >= half, "a chunk central already held was sent again"
    before_half = [o for o in double.offsets(file_id) if o < half]
    assert len(before_half) == len(set(before_half)), "an acked chunk was re-sent"


def test_error_ack_resets_ranges_and_retries(
    setup: tuple[EdgeConfig, Store, CentralDouble], tmp_path: Path
) -> None:
    config, store, double = setup
    double.error_on_fin = 1
    _, file_id, body = queue_clip(store, tmp_path, size=50_000)
    with SyncClient(config, store) as sync:
        sync.error_backoff = (0.2, 1.0)
        sync.start()
        wait_for(lambda: file_id in double.verified, 30, "the file after the error")
        wait_for(lambda: state(store, "file", file_id) == "delivered", 15, "delivered")
    assert len(double.fins) >= 2
    assert double.offsets(file_id).count(0) >= 2  # everything was sent again
    assert double.verified[file_id] == body


def test_status_online_retained_and_offline_on_close(
    setup: tuple[EdgeConfig, Store, CentralDouble],
) -> None:
    config, store, double = setup
    with SyncClient(config, store) as sync:
        sync.start()
        wait_for(lambda: any(s.state == "online" for s in double.status), 10, "online status")
    wait_for(lambda: double.status[-1].state == "offline", 10, "offline status")
    assert sync.client_id == f"reeferwatch-edge-{SITE}-{DEVICE}"


def test_acks_for_unknown_ids_are_ignored(tmp_path: Path, broker: Broker) -> None:
    config = edge_config(tmp_path, broker)
    with Store(config.db_path) as store, SyncClient(config, store) as sync:
        event_id, file_id, _ = queue_clip(store, tmp_path, size=2000)
        sync.handle_ack(
            AckMessage(
                sent_at=now(),
                events=["01UNKNOWN"],
                files=[
                    FileAck(file_id="NOPE", complete=True),
                    FileAck(file_id="NOPE2", ranges=[(0, 10)]),
                ],
            )
        )
        assert store.backlog()[0] == 2
        sync.handle_ack(AckMessage(sent_at=now(), events=[event_id]))
        assert state(store, "event", event_id) == "delivered"
        assert state(store, "file", file_id) == "pending"
