"""An urgent event overtakes a clip on a slow uplink without an ``[uplink]`` cap.

The edge reaches the real Mosquitto through ``tests.throttle.ThrottledProxy``, which passes
edge → broker bytes at 250 KB/s (4G at 2 Mbit/s); the central double of ``test_edge_sync``
sits directly on the broker. With the default 256 KiB chunks a fixed window of 8 chunks
put ~8 s of clip ahead of every event published meanwhile; the adaptive window
(``edge.pacing``) keeps it at two chunks here (~2.1 s at most).
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from edge.events import event_priority, record_event
from edge.store import Store
from edge.sync import SyncClient
from tests.helpers import Broker, wait_for
from tests.integration.test_edge_sync import CentralDouble, edge_config, queue_clip, state
from tests.throttle import ThrottledProxy
from wire import codec, topics
from wire.models import EventMessage

pytestmark = pytest.mark.slow

RATE = 250_000  # bytes/s, edge → broker
CHUNK = 262144  # the default chunk size; the default (maximum) window is 8
CHUNKS = 12  # the clip: 3 MiB, ~12.6 s at RATE
BOUND_S = 3.0  # two chunks (the smallest window) are 2.1 s at RATE; eight were ~8.4 s


class TimedDouble(CentralDouble):
    """Also records when each event first arrived."""

    def __init__(self, broker: Broker) -> None:
        self.arrived: dict[str, float] = {}
        super().__init__(broker)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        if topics.parse(msg.topic).kind == "event":
            event_id = codec.decode(EventMessage, msg.payload).id
            self.arrived.setdefault(event_id, time.monotonic())
        super()._on_message(client, userdata, msg)


def probe(store: Store, double: TimedDouble, file_id: str) -> dict[str, float]:
    """Queue an anomaly once two chunks of the clip arrived, the next ones each after one more
    chunk arrived than when the last anomaly did (at most 3, while 3 chunks are still to
    come); return the seconds from queued to arrived of each."""
    latencies: dict[str, float] = {}
    after = 2  # chunks arrived: the transfer is under way
    while len(latencies) < 3 and after <= CHUNKS - 3:
        wait_for(lambda n=after: len(double.offsets(file_id)) >= n, 30, f"chunk {after}")
        event_id = record_event(store, "metal_detector_reject", clip=False)
        queued = time.monotonic()
        wait_for(lambda e=event_id: e in double.arrived, 30, "the anomaly at the receiver")
        latencies[event_id] = double.arrived[event_id] - queued
        after = len(double.offsets(file_id)) + 1
    return latencies


def test_an_anomaly_overtakes_a_clip_on_a_slow_uplink(tmp_path: Path, broker: Broker) -> None:
    assert event_priority("metal_detector_reject") == 0  # urgent: drained first
    double = TimedDouble(broker)
    try:
        with ThrottledProxy(broker.port, RATE) as proxy:
            slow = dataclasses.replace(broker, port=proxy.port)
            config = edge_config(tmp_path, slow, chunk_size=CHUNK, window=8, ack_timeout=15.0)
            with Store(config.db_path) as store, SyncClient(config, store) as sync:
                _, file_id, body = queue_clip(store, tmp_path, size=CHUNKS * CHUNK)
                sync.start()
                latencies = probe(store, double, file_id)
                print(f"anomaly latencies: {[round(s, 2) for s in latencies.values()]} s")
                wait_for(lambda: state(store, "file", file_id) == "delivered", 60, "the clip")
                probes = list(latencies)
                wait_for(lambda: all(state(store, "event", e) == "delivered" for e in probes),
                         10, "the anomalies delivered")  # fmt: skip
    finally:
        double.close()
    waited = list(latencies.values())
    assert max(waited) < BOUND_S, f"an anomaly waited {max(waited):.1f} s behind the clip: {waited}"
    assert len(waited) == 3
    # the clip arrived once, whole and unchanged; every anomaly once
    assert hashlib.sha256(double.verified[file_id]).digest() == hashlib.sha256(body).digest()
    assert sorted(double.offsets(file_id)) == list(range(0, CHUNKS * CHUNK, CHUNK))
    assert [init.file_id for init in double.inits].count(file_id) == 1
    assert [event.id for event in double.events if event.id in latencies] == probes
