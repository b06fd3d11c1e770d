"""``up/health`` reaches a subscriber on a real Mosquitto with the expected fields."""

from __future__ import annotations

import queue
from datetime import timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.config import parse_config
from edge.faults import Faults
from edge.health.disk import quota_bytes
from edge.store import Store
from edge.sync import SyncClient
from edge.timeutil import now
from tests.helpers import Broker, wait_for
from wire import codec, topics
from wire.models import HealthMessage

pytestmark = pytest.mark.slow


def test_health_message_is_published_periodically(tmp_path: Path, broker: Broker) -> None:
    config = parse_config(
        {
            "site": {"id": "s1", "device": "d1", "location_code": "LC-1"},
            "storage": {"data_dir": str(tmp_path / "data")},
            "mqtt": {"host": broker.host, "port": broker.port},
            "cameras": [{"id": "c1"}, {"id": "c2"}],
            "retention": {"max_bytes": 5_000_000},
            "health": {"publish_seconds": 0.5},
        },
        "test",
    )
    got: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="health-sub", protocol=mqtt.MQTTv5)
    sub.on_message = lambda c, u, m: got.put(m)
    sub.connect(broker.host, broker.port)
    sub.subscribe(topics.up("s1", "d1", "health"), qos=1)
    sub.loop_start()
    try:
        with Store(config.db_path) as store:
            seg = tmp_path / "seg.mp4"
            seg.write_bytes(b"x" * 1000)
            end = now() - timedelta(seconds=2)
            store.add_segment("c1", seg, end - timedelta(seconds=10), end, 1000, "0" * 64)
            Faults(store).raise_fault("c2", "dark", {"mean_luma": 3.0})
            with SyncClient(config, store) as sync:
                sync.start()
                first = got.get(timeout=20)
                second = got.get(timeout=20)  # periodic, not once
                wait_for(lambda: sync.health.published >= 2, 5, "the publish count")
    finally:
        sub.loop_stop()
        sub.disconnect()
    assert not first.retain and first.qos == 1
    message = codec.decode(HealthMessage, second.payload)
    c1, c2 = message.cameras
    assert (c1.camera, c1.recording, c1.faults) == ("c1", True, [])
    assert c1.last_segment_age_s is not None and 1 < c1.last_segment_age_s < 60
    assert (c2.camera, c2.recording, c2.last_segment_age_s, c2.faults) == (
        "c2",
        False,
        None,
        ["dark"],
    )
    assert message.disk_used_bytes == 1000
    assert message.disk_quota_bytes == quota_bytes(config) == 5_000_000
    # the camera fault's event is waiting in the outbox (no central acks it here)
    assert message.backlog_items == 1
    assert message.sent_at.utcoffset() is not None
