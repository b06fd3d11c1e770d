"""Ingest against a real Mosquitto: an edge-like paho client sends a file and events and
waits for central's ``down/ack``, as the real edge does."""

from __future__ import annotations

import hashlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select

from central.blobs import FileBlobStore
from central.db import Clip, Database, Event
from central.ingest import IngestService
from central.ingest.batch import Outgoing
from central.ingest.runner import IngestRunner
from central.settings import Settings
from tests.central_messages import DEVICE, SITE, event_msg, file_init, fin_for
from tests.helpers import Broker, free_port, wait_for
from wire import codec, topics
from wire.errors import StoreError
from wire.models import AckMessage

pytest_plugins = ["tests.central_fixtures"]

pytestmark = pytest.mark.slow


class Edge:
    """A minimal edge: publishes QoS 1 up messages and collects ``down/ack`` payloads."""

    def __init__(self, broker: Broker) -> None:
        self.acks: queue.Queue[AckMessage] = queue.Queue()
        self.seen: list[AckMessage] = []
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"edge-{DEVICE}", protocol=mqtt.MQTTv5
        )
        self.client.on_message = lambda _c, _u, msg: self.acks.put(
            codec.decode(AckMessage, msg.payload)
        )
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        info = self.client.subscribe(topics.down_filter(SITE, DEVICE), qos=1)
        assert info[0] == mqtt.MQTT_ERR_SUCCESS

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(10)

    def wait_ack(self, predicate: object, what: str, timeout: float = 15) -> AckMessage:
        def found() -> AckMessage | None:
            while not self.acks.empty():
                self.seen.append(self.acks.get_nowait())
            return next((a for a in self.seen if predicate(a)), None)  # type: ignore[operator]

        return wait_for(found, timeout, what)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def mqtt_settings(central_settings: Settings, broker: Broker) -> Settings:
    return central_settings.model_copy(update={"mqtt_host": broker.host, "mqtt_port": broker.port})


@pytest.fixture
def edge(broker: Broker) -> Iterator[Edge]:
    client = Edge(broker)
    yield client
    client.close()


def _runner(settings: Settings, db: Database, blobs: FileBlobStore, name: str) -> IngestRunner:
    runner = IngestRunner(settings, IngestService(db, blobs), name=name)
    runner.start()
    wait_for(runner.subscribed.is_set, 10, "ingest to subscribe")
    return runner


def test_file_transfer_over_mqtt_is_acked_complete(
    mqtt_settings: Settings, central_db: Database, blobs: FileBlobStore, edge: Edge
) -> None:
    data = os.urandom(300_000)
    chunk = 64 * 1024
    init = file_init(data, chunk_size=chunk)
    with _runner(mqtt_settings, central_db, blobs, "t1"):
        edge.publish(topics.file_init(SITE, DEVICE, init.file_id), codec.encode(init))
        edge.wait_ack(lambda a: a.files and a.files[0].ranges == [], "init ack with no ranges")
        # Send out of order, with one chunk twice, and junk in between that must be dropped.
        offsets = list(range(0, len(data), chunk))
        for offset in [*offsets[1:], offsets[0], offsets[1]]:
            topic = topics.file_chunk(SITE, DEVICE, init.file_id, offset)
            edge.publish(topic, data[offset : offset + chunk])
        edge.publish(topics.up(SITE, DEVICE, "event"), b"not json at all")
        edge.publish(topics.file_fin(SITE, DEVICE, init.file_id), codec.encode(fin_for(init)))
        done = edge.wait_ack(lambda a: a.files and a.files[0].complete, "complete ack")
    assert done.files[0].file_id == init.file_id
    assert done.files[0].ranges == [(0, len(data))]
    assert hashlib.sha256(blobs.path(init.sha256).read_bytes()).hexdigest() == init.sha256
    with central_db.session() as session:
        assert session.execute(select(func.count()).select_from(Clip)).scalar_one() == 1


def test_events_published_while_ingest_is_down_arrive_after_restart(
    mqtt_settings: Settings, central_db: Database, blobs: FileBlobStore, edge: Edge
) -> None:
    first, later = event_msg(seq=1), event_msg(seq=2)
    with _runner(mqtt_settings, central_db, blobs, "persistent"):
        edge.publish(topics.up(SITE, DEVICE, "event"), codec.encode(first))
        edge.wait_ack(lambda a: first.id in a.events, "ack of the first event")
    # Ingest is down; the broker holds the message for its persistent session.
    edge.publish(topics.up(SITE, DEVICE, "event"), codec.encode(later))
    with central_db.session() as session:
        assert session.get(Event, later.id) is None
    with _runner(mqtt_settings, central_db, blobs, "persistent"):
        edge.wait_ack(lambda a: later.id in a.events, "ack of the event sent while down")
    with central_db.session() as session:
        assert session.get(Event, later.id) is not None


def test_cli_ingest_stops_cleanly_on_sigterm(
    mqtt_settings: Settings, central_db: Database, edge: Edge, broker: Broker
) -> None:
    env = {
        **os.environ,
        "REEFERWATCH_DATA_DIR": str(mqtt_settings.data_dir),
        "REEFERWATCH_DATABASE_URL": mqtt_settings.database_url,
        "REEFERWATCH_SECRET_KEY": mqtt_settings.secret(),
        "REEFERWATCH_MQTT_HOST": broker.host,
        "REEFERWATCH_MQTT_PORT": str(broker.port),
    }
    metrics_port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "central.cli",
            "ingest",
            "--name",
            "cli",
            "--shared",
            "--metrics-port",
            str(metrics_port),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        msg = event_msg()

        def acked() -> bool:
            edge.publish(topics.up(SITE, DEVICE, "event"), codec.encode(msg))
            try:
                edge.wait_ack(lambda a: msg.id in a.events, "ack from the CLI ingest", 0.5)
            except AssertionError:
                return False
            return True

        wait_for(acked, 30, "the CLI ingest to ack an event")
        metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        assert 'reeferwatch_ingest_messages_total{kind="event"}' in metrics
        lag_count = re.search(r"^reeferwatch_ingest_event_lag_seconds_count (\d+)$", metrics, re.M)
        assert lag_count and int(lag_count.group(1)) >= 1
        assert "reeferwatch_ingest_queue_depth 0" in metrics
        assert httpx.get(f"http://127.0.0.1:{metrics_port}/other").status_code == 404
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = process.stdout.read().decode() if process.stdout else ""
    assert "signal 15: stopping ingest" in output and "ingest stopped" in output


class FlakyService(IngestService):
    """Fails the first ``store_failures`` calls like a database outage, and raises a bug's
    exception on every message with ``poison`` in it."""

    def __init__(self, db: Database, blobs: FileBlobStore, store_failures: int) -> None:
        super().__init__(db, blobs)
        self.store_failures = store_failures
        self.calls = 0

    def handle(self, topic: str, payload: bytes) -> list[tuple[str, AckMessage]]:
        self.calls += 1
        if b"poison" in payload:
            raise KeyError("a handler bug")
        if self.store_failures > 0:
            self.store_failures -= 1
            raise StoreError("database refused message: connection lost")
        return super().handle(topic, payload)


def test_ingest_outlives_store_outages_and_handler_bugs(
    mqtt_settings: Settings, central_db: Database, blobs: FileBlobStore, edge: Edge
) -> None:
    service = FlakyService(central_db, blobs, store_failures=3)
    runner = IngestRunner(mqtt_settings, service, name="flaky")
    with runner:
        runner.start()
        wait_for(runner.subscribed.is_set, 10, "ingest to subscribe")
        first = event_msg(seq=1)
        edge.publish(topics.up(SITE, DEVICE, "event"), codec.encode(first))
        edge.wait_ack(lambda a: first.id in a.events, "the event, stored after 3 retries")
        assert service.store_failures == 0
        # More failing messages than the broker's in-flight window (20): none may stall ingest.
        for _ in range(30):
            edge.publish(topics.up(SITE, DEVICE, "event"), b'{"poison": 1}')
        later = event_msg(seq=2)
        edge.publish(topics.up(SITE, DEVICE, "event"), codec.encode(later))
        edge.wait_ack(lambda a: later.id in a.events, "an event after 30 handler failures", 30)
    with central_db.session() as session:
        assert session.get(Event, first.id) is not None and session.get(Event, later.id)


class GatedService(IngestService):
    """Holds every batch until ``gate`` opens, so the messages behind it queue up;
    ``held`` is the size of the first batch (one message, or more if the worker woke late)."""

    def __init__(self, db: Database, blobs: FileBlobStore) -> None:
        super().__init__(db, blobs)
        self.gate = threading.Event()
        self.held = 0

    def handle_batch(self, messages: Sequence[tuple[str, bytes]]) -> list[Outgoing]:
        if not self.gate.is_set():
            self.held = self.held or len(messages)
        assert self.gate.wait(30), "gate never opened"
        return super().handle_batch(messages)


def test_messages_queued_behind_a_slow_commit_go_in_one_batch(
    mqtt_settings: Settings, central_db: Database, blobs: FileBlobStore, edge: Edge
) -> None:
    service = GatedService(central_db, blobs)
    runner = IngestRunner(mqtt_settings, service, name="batch")
    with runner:
        runner.start()
        wait_for(runner.subscribed.is_set, 10, "ingest to subscribe")
        sent = [event_msg(seq=seq) for seq in range(1, 62)]
        for msg in sent:
            edge.publish(topics.up(SITE, DEVICE, "event"), codec.encode(msg))
        # The broker's own in-flight limit is 20; ingest's Receive Maximum lets the rest queue
        # behind the held batch (one message, unless the worker woke after more had come).
        wait_for(lambda: service.held and service.held + service.metrics.queue_depth() == 61,
                 15, "61 messages held or queued")  # fmt: skip
        service.gate.set()
        edge.wait_ack(lambda a: sent[-1].id in a.events, "the last event")
    assert service.metrics.batched_messages == 61
    assert service.metrics.batches == 2  # the held batch, then all the ones behind it
    acked = {event_id for ack in edge.seen for event_id in ack.events}
    assert acked == {msg.id for msg in sent}
    with central_db.session() as session:
        assert session.execute(select(func.count()).select_from(Event)).scalar_one() == 61
