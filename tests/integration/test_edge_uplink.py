"""Uplink manners against a real Mosquitto: the bandwidth cap holds, the backlog drains by
(priority, seq). Uses the central double of ``test_edge_sync``."""

from __future__ import annotations

import hashlib
import os
import time
from datetime import timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from edge.config import EdgeConfig, load_config
from edge.events import event_priority, file_priority, record_event
from edge.store import Store
from edge.sync import SyncClient
from edge.timeutil import now
from tests.helpers import Broker, wait_for
from tests.integration.test_edge_sync import CentralDouble, edge_config
from wire import codec, topics
from wire.models import EventMessage, FileInit

pytestmark = pytest.mark.slow


class TimedDouble(CentralDouble):
    """Also records when each chunk and each first send (event / file init) arrived."""

    def __init__(self, broker: Broker) -> None:
        self.arrivals: list[tuple[float, int]] = []
        self.order: list[int] = []  # seqs of events and file inits, first arrival only
        super().__init__(broker)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        topic = topics.parse(msg.topic)
        if topic.kind == "file-chunk":
            self.arrivals.append((time.monotonic(), len(msg.payload)))
        elif topic.kind in ("event", "file-init"):
            model = EventMessage if topic.kind == "event" else FileInit
            seq = codec.decode(model, msg.payload).seq  # type: ignore[attr-defined]
            if seq not in self.order:
                self.order.append(seq)
        super()._on_message(client, userdata, msg)


def capped_config(tmp_path: Path, broker: Broker, kbps: int, **mqtt: object) -> EdgeConfig:
    edge_config(tmp_path, broker, **mqtt)
    path = tmp_path / "edge.toml"
    path.write_text(path.read_text() + f"\n[uplink]\nkbps = {kbps}\n")
    return load_config(path)


def add_clip(store: Store, folder: Path, kind: str, size: int) -> str:
    body = os.urandom(size)
    event_id = record_event(store, kind, camera="cam1", clip=False)
    path = folder / f"clip-{event_id}.mp4"
    path.write_bytes(body)
    t = now()
    store.add_clip(f"F{event_id}", event_id, "cam1", path, t - timedelta(seconds=4), t, size,
                   hashlib.sha256(body).hexdigest(), [], file_priority(kind))  # fmt: skip
    return f"F{event_id}"


def test_file_transfer_keeps_to_the_cap(tmp_path: Path, broker: Broker) -> None:
    kbps = 2000  # 250,000 bytes/s
    config = capped_config(tmp_path, broker, kbps, chunk_size=16384, window=8)
    double = TimedDouble(broker)
    try:
        with Store(config.db_path) as store:
            file_id = add_clip(store, tmp_path, "seal_broken", 1_000_000)  # ~4 s at the cap
            with SyncClient(config, store) as sync:
                sync.start()
                wait_for(lambda: file_id in double.verified, 30, "the file to arrive")
        arrivals = double.arrivals
        elapsed = arrivals[-1][0] - arrivals[0][0]
        assert elapsed >= 3.0
        rate = sum(n for _, n in arrivals[1:]) / elapsed
        assert rate == pytest.approx(kbps * 1000 / 8, rel=0.10)
    finally:
        double.close()


def test_backlog_drains_by_priority_then_seq(tmp_path: Path, broker: Broker) -> None:
    config = capped_config(tmp_path, broker, 0)
    double = TimedDouble(broker)
    try:
        with Store(config.db_path) as store:
            expected: list[tuple[int, int]] = []
            kinds = ["mark", "door_open", "seal_broken", "camera_fault", "mark", "custom"]
            for i in range(30):
                kind = kinds[i % len(kinds)]
                if i % 5 == 0:
                    add_clip(store, tmp_path, kind, 20_000)
                else:
                    record_event(store, kind, camera="cam1", clip=False)
            for item in store.outbox_items():
                expected.append((item.priority, item.seq))
            assert {p for p, _ in expected} >= {
                event_priority("mark"),
                event_priority("seal_broken"),
            }
            with SyncClient(config, store) as sync:
                sync.start()
                wait_for(lambda: len(double.order) == len(expected), 30, "every item")
        by_seq = dict((s, p) for p, s in expected)
        got = [(by_seq[s], s) for s in double.order]
        assert got == sorted(expected)
        assert got[0][0] == 0  # faults and anomalies first
    finally:
        double.close()
