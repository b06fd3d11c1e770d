"""Events benchmark: a GPIO edge on a mock pin → event committed → ``up/event`` on a real broker.

In process, built as ``run`` builds them: ``GpioInputs`` (gpiozero ``MockFactory``) + ``Store``
+ ``SyncClient``, against a Mosquitto this bench starts on a free port. A separate paho client
subscribes to ``up/event`` and answers each event with a ``down/ack`` the way central does (so
the outbox keeps draining; the ack is not part of the measured latency). Prints JSON lines
(DESIGN §7):

- ``event_latency_p50_ms`` / ``event_latency_p99_ms``: from driving the pin active to the
  subscriber receiving the event, one event at a time (baseline: a raw paho QoS 1 publish →
  the same subscriber, measured the same way in the same run);
- ``events_lost_50hz``: a 50 Hz pulse train (10 ms pulses) for 10 s; events the subscriber
  never received (baseline: pulses driven).

``python -m bench.events [--quick] [--events N] [--seconds S]``
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.recording import emit, free_port
from edge.config import EdgeConfig, parse_config
from edge.gpio import GpioInputs
from edge.store import Store
from edge.sync import SyncClient
from edge.timeutil import now
from wire import codec, topics
from wire.models import AckMessage, EventMessage

SITE, DEVICE = "bench", "edge01"
INPUT = "md_reject"
DEBOUNCE_MS = 5  # a 50 Hz train has 10 ms pulses: the debounce must be shorter
RAW_TOPIC = "bench/raw"


@contextlib.contextmanager
def broker(workdir: Path) -> Iterator[int]:
    """Mosquitto with the queue limits of the shipped configuration."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 0\nmax_inflight_messages 20\nset_tcp_nodelay true\n"
    )
    proc = subprocess.Popen([binary, "-c", str(conf)], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def connect(port: int, client_id: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(20)
    connected = threading.Event()
    client.on_connect = lambda *args: connected.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    if not connected.wait(10):
        raise SystemExit(f"bench: cannot connect to the broker on port {port}")
    return client


class Subscriber:
    """A separate paho client: ``up/event`` (acked like central) and the raw baseline topic."""

    def __init__(self, port: int) -> None:
        self.received: queue.Queue[tuple[float, str]] = queue.Queue()
        self.ids: set[str] = set()
        self.client = connect(port, "bench-subscriber")
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.subscribe([(topics.up(SITE, DEVICE, "event"), 1), (RAW_TOPIC, 1)])
        subscribed.wait(10)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        moment = time.monotonic()
        if msg.topic == RAW_TOPIC:
            self.received.put((moment, msg.payload.decode()))
            return
        event = codec.decode(EventMessage, msg.payload)
        self.ids.add(event.id)
        self.received.put((moment, event.id))
        ack = AckMessage(sent_at=now(), events=[event.id])
        client.publish(topics.down(SITE, DEVICE, "ack"), codec.encode(ack), qos=1)

    def next(self, timeout: float = 5.0) -> tuple[float, str]:
        return self.received.get(timeout=timeout)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def raw_latencies(port: int, subscriber: Subscriber, n: int) -> list[float]:
    publisher = connect(port, "bench-raw-publisher")
    try:
        latencies = []
        for i in range(n):
            started = time.monotonic()
            publisher.publish(RAW_TOPIC, str(i).encode(), qos=1)
            received, _ = subscriber.next()
            latencies.append((received - started) * 1000)
        return latencies
    finally:
        publisher.disconnect()
        publisher.loop_stop()


def edge_config(workdir: Path, port: int) -> EdgeConfig:
    data = {
        "site": {"id": SITE, "device": DEVICE, "location_code": "BENCH-01"},
        "storage": {"data_dir": str(workdir / "data")},
        "mqtt": {"port": port},
        "cameras": [{"id": "cam1"}],
        "gpio": {
            "backend": "mock",
            "inputs": [{"name": INPUT, "pin": 17, "kind": "metal_detector_reject",
                        "active_high": True, "debounce_ms": DEBOUNCE_MS}],
        },
    }  # fmt: skip
    return parse_config(data, "bench")


@contextlib.contextmanager
def edge(config: EdgeConfig) -> Iterator[GpioInputs]:
    """Store + SyncClient + GpioInputs as ``run`` builds them (no recorder: no clips)."""
    with Store(config.db_path) as store, SyncClient(config, store) as sync:
        sync.start()
        if not sync.connected.wait(10):
            raise SystemExit("bench: the edge's sync client did not connect")
        with GpioInputs(config.gpio, store) as gpio:
            gpio.start()
            yield gpio


def edge_latencies(gpio: GpioInputs, subscriber: Subscriber, n: int) -> list[float]:
    latencies = []
    gap = 2 * DEBOUNCE_MS / 1000
    for _ in range(n):
        started = time.monotonic()
        gpio.drive(INPUT, True)
        received, _ = subscriber.next()
        latencies.append((received - started) * 1000)
        time.sleep(gap)
        gpio.drive(INPUT, False)
        time.sleep(gap)
    return latencies


def pulse_train(gpio: GpioInputs, subscriber: Subscriber, hz: float, seconds: float) -> dict:
    """Drive ``hz`` pulses (half a period each) on an absolute schedule; count what arrives."""
    before = len(subscriber.ids)
    period = 1 / hz
    pulses = round(hz * seconds)
    start = time.monotonic() + 0.1
    for k in range(pulses):
        for offset, level in ((0.0, True), (period / 2, False)):
            delay = start + k * period + offset - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            gpio.drive(INPUT, level)
    driven_s = time.monotonic() - start
    deadline = time.monotonic() + 30
    while len(subscriber.ids) - before < pulses and time.monotonic() < deadline:
        time.sleep(0.05)
    return {"pulses": pulses, "received": len(subscriber.ids) - before, "driven_s": driven_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the same counts (< 1 min)")
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the 50 Hz train")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rw-bench-events-") as tmp:
        workdir = Path(tmp)
        with broker(workdir) as port:
            subscriber = Subscriber(port)
            try:
                raw = raw_latencies(port, subscriber, args.events)
                with edge(edge_config(workdir, port)) as gpio:
                    lat = edge_latencies(gpio, subscriber, args.events)
                    while not subscriber.received.empty():
                        subscriber.received.get()
                    train = pulse_train(gpio, subscriber, 50.0, args.seconds)
            finally:
                subscriber.close()
    common = {"events": args.events, "broker": "mosquitto loopback, QoS 1, MQTT v5"}
    emit("event_latency_p50_ms", percentile(lat, 50), "ms", percentile(raw, 50), **common)
    emit("event_latency_p99_ms", percentile(lat, 99), "ms", percentile(raw, 99),
         max_ms=round(max(lat), 2), mean_ms=round(statistics.fmean(lat), 2), **common)  # fmt: skip
    emit("events_lost_50hz", train["pulses"] - train["received"], "events", train["pulses"],
         received=train["received"], driven_s=round(train["driven_s"], 2),
         debounce_ms=DEBOUNCE_MS)  # fmt: skip


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
